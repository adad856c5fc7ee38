"""Stopping the processes a test started (``sanshi serve``, ``sanshi worker``, bench servers)."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_process(proc: subprocess.Popen[Any], grace: float = 60.0) -> int:
    """SIGTERM and wait ``grace`` seconds (a worker finishes its poll and commits, a server
    drains); a process that ignores it is killed. Returns its exit status."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=30)
