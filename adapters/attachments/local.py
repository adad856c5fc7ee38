"""Blobs in a local directory: ``<root>/ab/cd/abcd…`` (two levels of fan-out, so that no
directory holds millions of entries). Written to a temporary file in the same directory and
renamed into place, so that a reader never sees half a file and a crash leaves no torn blob."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

ADDRESS = re.compile(r"^[0-9a-f]{64}$")


class LocalDirBlobs:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, address: str) -> Path:
        # The address is the only thing that becomes a path, and only 64 hex characters do.
        if not ADDRESS.match(address):
            raise ValueError("not a blob address")
        return self.root / address[:2] / address[2:4] / address

    def put(self, address: str, data: bytes) -> None:
        path = self._path(address)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, address: str) -> bytes | None:
        try:
            return self._path(address).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def has(self, address: str) -> bool:
        try:
            return self._path(address).is_file()
        except ValueError:
            return False
