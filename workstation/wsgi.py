"""The WSGI entry point for gunicorn: ``gunicorn workstation.wsgi:app``."""

from workstation import create_app

app = create_app()
