# The one image for the web app (default CMD), the migrations, the consumers and the scheduler;
# docker-compose.yml picks the role with `command:`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    WORKSTATION_INSTANCE_PATH=/var/lib/rpa

WORKDIR /app

# Non-root user; the instance folder (uploaded evidence, shared by api and workers) is a volume,
# created here so that a fresh named volume takes this ownership.
RUN groupadd --system --gid 10001 rpa \
    && useradd --system --uid 10001 --gid rpa --home-dir /app --no-create-home --shell /usr/sbin/nologin rpa \
    && install -d -o rpa -g rpa -m 0750 /var/lib/rpa

# pango and a CJK font for the statistics report's PDF (WeasyPrint)
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY workstation/ workstation/
COPY workers/ workers/
COPY templates/ templates/
COPY alembic.ini ./

# Compile the gettext catalogs now: at run time the code (owned by root) is read-only for the app user,
# and compile_catalogs() skips .mo files that are newer than their .po source.
RUN python -c "from workstation.i18n import compile_catalogs; compile_catalogs()"

USER rpa
EXPOSE 8000

CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "workstation.web.wsgi:app"]
