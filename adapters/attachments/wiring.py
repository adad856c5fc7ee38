"""Which store a runtime's attachments go to (docs/attachments.md):

- ``SANSHI_ATTACHMENTS=db``: the ``attachment_blobs`` table in the views' database;
- ``SANSHI_ATTACHMENTS=/some/dir``: that directory;
- unset: PostgreSQL (``SANSHI_DB=postgresql://…``) → the table; SQLite → ``attachments/``
  beside the database file; ``memory://`` → the table in the in-memory database.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from adapters.attachments.inspect import ContentInspector
from adapters.attachments.local import LocalDirBlobs
from adapters.attachments.sql import SqlBlobs
from adapters.transport.sealing import sealer_for
from engine.attachments import AttachmentService, Blobs

if TYPE_CHECKING:
    from adapters.bootstrap import Runtime


def blobs_for(runtime: Runtime, choice: str | None = None) -> Blobs:
    settings = runtime.settings
    choice = choice if choice is not None else os.environ.get("SANSHI_ATTACHMENTS", "")
    if choice == "db":
        return SqlBlobs(runtime.views_engine)
    if choice:
        return LocalDirBlobs(choice)
    if settings.is_sqlite:
        return LocalDirBlobs(settings.sqlite_path().parent / "attachments")
    return SqlBlobs(runtime.views_engine)


def attachment_service(runtime: Runtime, blobs: Blobs | None = None) -> AttachmentService:
    return AttachmentService(
        runtime.app,
        blobs if blobs is not None else blobs_for(runtime),
        ContentInspector(),
        runtime.config.attachments,
        codec=sealer_for(runtime.settings.cipher_key),
        address_key=runtime.settings.district_key,
    )
