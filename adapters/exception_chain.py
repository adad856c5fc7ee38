"""Walk an exception and what caused it: the one helper the HTTP layer (is the database away?)
and the CLI (which service is unreachable?) both ask."""

from __future__ import annotations

from collections.abc import Iterator


def causes(exc: BaseException, *, suppressed_too: bool = False) -> Iterator[BaseException]:
    """``exc``, then its ``__cause__`` or ``__context__``, and so on, each once. A context the
    raiser hid with ``raise … from None`` is skipped unless ``suppressed_too`` (the CLI looks
    there as well: a driver's connection error is often re-raised that way)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        hidden = current.__suppress_context__ and not suppressed_too
        current = current.__cause__ or (None if hidden else current.__context__)
