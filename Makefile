# The two commands of the quick start: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000

# Compiled modules are cached (``__pycache__``) even where the environment says not to
# (PYTHONDONTWRITEBYTECODE, set on some machines): otherwise every Python process the suite starts
# (each pass, its fork server, gunicorn, the CLI) compiled the project's modules again (a sixth of
# importing the workers' code) and pytest rewrote every test module in each pass.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-embedded test-services test-services-faults test-services-rest lint setup setup-dev browser imap pdf clean

run: setup
	$(PY) -m workstation run --host $(HOST) --port $(PORT)

# Lint, then the whole suite twice, all side by side: on the embedded default and on PostgreSQL +
# RabbitMQ, the latter in two processes of about the same length: the tests that mostly wait (on
# nodes they start and kill, on worker processes, on a browser) beside the rest. They share nothing:
# a temporary instance folder each test, a database and a virtual host of each process's own, and
# brokers or database clusters of their own for whatever a test stops. Each part's output is shown
# whole when it ends.
FAULT_TESTS := tests/test_cluster.py tests/test_database_outage.py tests/test_faults.py tests/test_soak.py \
	tests/test_browser.py tests/test_idempotency.py tests/test_pipeline.py

test: setup-dev lint
	$(MAKE) --no-print-directory -j3 --output-sync=target test-embedded test-services-faults test-services-rest

test-embedded: setup-dev
	WORKSTATION_TEST_BACKEND=embedded $(PY) -m pytest -q $(PYTEST_ARGS)

# The services pass in one process (what test-services-faults and test-services-rest split in two).
test-services: setup-dev
	WORKSTATION_TEST_BACKEND=services $(PY) -m pytest -q $(PYTEST_ARGS)

test-services-faults: setup-dev
	WORKSTATION_TEST_BACKEND=services $(PY) -m pytest -q $(PYTEST_ARGS) $(FAULT_TESTS)

test-services-rest: setup-dev
	WORKSTATION_TEST_BACKEND=services $(PY) -m pytest -q $(PYTEST_ARGS) $(addprefix --ignore=,$(FAULT_TESTS))

lint: setup-dev
	$(VENV)/bin/ruff check workstation workers tests benchmarks
	$(VENV)/bin/ruff format --check workstation workers tests benchmarks
	$(VENV)/bin/lint-imports --no-cache

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(MAKE) --no-print-directory pdf
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(MAKE) --no-print-directory browser
	$(MAKE) --no-print-directory imap
	touch $@

# The browser tests drive Debian's chromium and chromium-driver (nothing downloads its own browser);
# fonts-noto-cjk so that screenshots of Chinese pages show characters, not boxes.
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-cjk
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -d /usr/share/fonts/opentype/noto ]; then :; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing $(BROWSER_PACKAGES) for the browser tests"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null; \
	else echo "no apt-get: install chromium and chromedriver for the browser tests" >&2; fi

# The IMAP test (tests/test_mail_in.py) starts Debian's Dovecot on a loopback port of its own.
IMAP_PACKAGES := dovecot-imapd
imap:
	@if [ -x /usr/sbin/dovecot ]; then :; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing $(IMAP_PACKAGES) for the IMAP test"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(IMAP_PACKAGES) >/dev/null; \
	else echo "no apt-get: install dovecot-imapd for the IMAP test" >&2; fi

# The statistics report's PDF (WeasyPrint) lays text out with Debian's pango, and Chinese needs a CJK
# font: fonts-noto-cjk (also the browser tests'). Without them the PDF download fails or shows boxes.
PDF_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk
pdf:
	@if ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 && [ -d /usr/share/fonts/opentype/noto ]; then :; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing $(PDF_PACKAGES) for the statistics report's PDF"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PDF_PACKAGES) >/dev/null; \
	else echo "no apt-get: install pango and a CJK font (Noto Sans CJK) for the statistics PDF" >&2; fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
