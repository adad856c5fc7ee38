"""`sanshi serve` for real in a process of its own, for the browser tests: started with the
given environment, waited for until /healthz answers, stopped afterwards. (Through
tests.support.moved_clock's CLI code, so a moved clock reaches the server too.)"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.moved_clock import CLI_CODE
from tests.support.processes import stop_process
from tests.support.services import free_port

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def served(env: Mapping[str, str], log_path: Path, *args: str, start_within: float = 60.0) -> Iterator[str]:
    """The server's base address; ``args`` go after ``serve`` (e.g. ``--demo``). Its output
    goes to ``log_path``, whose tail is in the error when it does not start."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI_CODE, "serve", *args,
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=REPO, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + start_within
            while True:
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                    raise RuntimeError(f"sanshi serve {' '.join(args)} did not start:\n{tail}")
                time.sleep(0.2)
            yield base
        finally:
            stop_process(proc, grace=10)
