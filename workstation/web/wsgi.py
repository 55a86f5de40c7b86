"""The WSGI entry point for gunicorn: ``gunicorn workstation.web.wsgi:app``."""

from workstation.web import create_app

app = create_app()
