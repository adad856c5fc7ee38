"""engine/ is the pure domain and application service: it imports no infrastructure (README,
"Layout"). Drivers, web frameworks, brokers and eventsourcing's store modules belong to
adapters/ (the store's own overrides: adapters/eventstore.py) and projections/."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"

INFRASTRUCTURE = (
    "psycopg",
    "psycopg_pool",
    "sqlalchemy",
    "sqlite3",
    "kafka",
    "confluent_kafka",
    "aiokafka",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "eventsourcing.postgres",
    "eventsourcing.sqlite",
    "adapters",
    "projections",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _is_infrastructure(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in INFRASTRUCTURE)


def test_engine_imports_no_infrastructure() -> None:
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 5
    found = {
        f"{path.relative_to(ENGINE.parent)}: {name}"
        for path in files
        for name in _imports(path)
        if _is_infrastructure(name)
    }
    assert not found, "engine/ imports infrastructure:\n" + "\n".join(sorted(found))
