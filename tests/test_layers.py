"""The layers hold: the pure domain imports without the web, the database or the broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter in which the frameworks cannot be imported at all, as in a virtual
# environment holding only the standard library and the core's own declared needs.
BLOCK_AND_IMPORT = """
import sys
BLOCKED = {%(blocked)s}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked for this test: " + name)
        return None
sys.meta_path.insert(0, Refuse())
import %(modules)s
above = ("workers", "workstation.services", "workstation.web")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED or m.startswith(above))
print(",".join(loaded) or "nothing")
"""

FRAMEWORKS = (
    "flask",
    "flask_babel",
    "flask_login",
    "flask_wtf",
    "werkzeug",
    "sqlalchemy",
    "kombu",
    "alembic",
    "jinja2",
)
PURE_CORE = (
    "workstation.lifecycle",
    "workstation.routing",
    "workstation.deadlines",
    "workstation.similarity",
    "workstation.compensation",
    "workstation.opinions",
    "workstation.timeline",
    "workstation.evidence",
    "workstation.vocabulary",
    "workstation.mailrules",
    "workstation.replies",
    "workstation.training",
    "workstation.referrals",
    "workstation.bulk",
    "workstation.statistics",
)


def _import_in_fresh_interpreter(modules: tuple[str, ...], blocked: tuple[str, ...]) -> subprocess.CompletedProcess:
    code = BLOCK_AND_IMPORT % {"blocked": ", ".join(map(repr, blocked)), "modules": ", ".join(modules)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)


def test_the_pure_core_imports_with_the_frameworks_unimportable() -> None:
    done = _import_in_fresh_interpreter(PURE_CORE, FRAMEWORKS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "nothing"


def test_the_check_would_see_a_core_module_that_needs_flask() -> None:
    # The same harness on a module that does need Flask: it must fail, or the test above proves nothing.
    done = _import_in_fresh_interpreter(("workstation.web",), FRAMEWORKS)
    assert done.returncode != 0 and "blocked for this test: flask" in done.stderr
