"""The store module (``adapters/eventstore.py``) copies and calls eventsourcing internals that
the library may change in any release: pinned to the version they were checked against, so an
upgrade fails here with the list of what to re-read, instead of failing somewhere at run time."""

from __future__ import annotations

import importlib
from importlib.metadata import version

from adapters import eventstore

PINNED = "9.5.6"


def test_eventsourcing_is_the_version_the_store_module_was_checked_against() -> None:
    installed = version("eventsourcing")
    assert installed == PINNED == eventstore.CHECKED_AGAINST, (
        f"eventsourcing {installed} is installed; adapters/eventstore.py was checked against "
        f"{eventstore.CHECKED_AGAINST}. Re-read each of these library internals it copies, "
        "replaces or calls, adapt the module, then move CHECKED_AGAINST and PINNED:\n  "
        + "\n  ".join(eventstore.LIBRARY_INTERNALS)
    )


def _resolve(dotted: str) -> object:
    """The object a dotted name points at: the longest importable module, then attributes (an
    instance attribute of a class that builds without arguments, e.g. ProcessingEvent.events)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            if not hasattr(obj, part) and isinstance(obj, type):
                obj = obj()
            obj = getattr(obj, part)
        return obj
    raise ImportError(dotted)


def test_every_internal_named_still_exists() -> None:
    missing = []
    for dotted in eventstore.LIBRARY_INTERNALS:
        try:
            _resolve(dotted)
        except (AttributeError, ImportError, TypeError):
            missing.append(dotted)
    assert not missing, f"gone from eventsourcing {version('eventsourcing')}: {missing}"


def test_the_module_docstring_lists_the_same_internals() -> None:
    doc = eventstore.__doc__ or ""
    unlisted = [name for name in eventstore.LIBRARY_INTERNALS if f"``{name}``" not in doc]
    assert not unlisted, f"adapters/eventstore.py's docstring does not name: {unlisted}"
