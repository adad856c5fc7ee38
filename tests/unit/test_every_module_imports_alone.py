"""Every module of ours imports first, on its own (a fresh interpreter's order): a circular import
hides when the suite happens to import the other side first, then breaks one command for a user
(``sanshi report --format json`` did: adapters.reports.as_json ↔ adapters.http)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "adapters", "projections")

# One interpreter; between modules ours are dropped from sys.modules (third-party ones stay
# loaded, so each import costs only our own code).
_SCRIPT = r"""
import importlib, sys, traceback
ours = {ours!r}
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ours]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + "\n" + traceback.format_exc(limit=3))
print("\n\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__main__":
                continue  # runs the command line when imported
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_imports_first_on_its_own() -> None:
    modules = _modules()
    assert "adapters.reports.as_json" in modules and len(modules) > 100
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(ours=PACKAGES), *modules],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
