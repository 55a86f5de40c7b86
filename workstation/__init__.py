"""The rights-protection assistance workstation.

Layers, each importing only those below it (``make lint`` checks this with import-linter):
- ``workstation.web``: the Flask app factory and blueprints; ``workstation.__main__``: the CLI.
- ``workstation.services``: database-backed services, the broker's declarations, mail.
- this package's own modules: the pure domain rules (lifecycle, routing, deadlines, similarity,
  compensation, opinions, timeline, evidence checks) with configuration and i18n; they import
  neither Flask nor SQLAlchemy, so ``import workstation.lifecycle`` loads neither.
The workers (``workers``) sit on top beside the web; ``workstation`` never imports them.
"""
