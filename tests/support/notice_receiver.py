"""A real receiver of notices over HTTP, run by the tests as a process of its own: the district's
webhook consumer, or an SMS gateway.

    python -m tests.support.notice_receiver --port P --db received.sqlite --mode webhook \
        --secret S [--crash-after N] [--status 503]

It stores every notice in a SQLite file keyed by its ``Idempotency-Key`` and counts the
deliveries of each key, as a consumer that dedups would: a notice delivered twice is stored
once, with ``deliveries = 2``. It checks what a real one would: the webhook's HMAC-SHA256
signature over ``"<timestamp>." + body`` and a recent timestamp (401 otherwise), the gateway's
``X-Api-Key`` (401 otherwise).

``--crash-after N``: after storing the N-th distinct notice, the process kills itself
(SIGKILL) before answering: the sender never hears that this notice arrived, the state a
consumer killed mid-stream leaves. ``--status``: answer every request with this status
(a receiver that is down for good, or refuses everything).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the tests' senders and receivers share.
SECRET = "whsec-test-0123456789"
API_KEY = "sms-key-test"

SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    key TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    deliveries INTEGER NOT NULL,
    first_at REAL NOT NULL
)
"""


@dataclass
class Receiver:
    """For the tests: a receiver process (this module run as a script) and its SQLite file."""

    mode: str  # webhook | sms
    port: int
    db: Path
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notices"

    def start(self, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.notice_receiver", "--port", str(self.port),
             "--db", str(self.db), "--mode", self.mode, "--secret", SECRET, "--api-key", API_KEY,
             *extra],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        """SIGKILL: a consumer killed, not shut down."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def received(self) -> dict[str, tuple[str, int]]:
        """key → (body, deliveries)."""
        if not self.db.exists():
            return {}
        with sqlite3.connect(self.db) as conn:
            return {k: (b, n) for k, b, n in conn.execute("SELECT key, body, deliveries FROM received")}


def main() -> None:
    # On the tests' moved clock when there is one (TEST_NOW): the webhook's signed timestamp
    # comes from a sender on that clock, and a fresh one must look fresh here.
    import tests.support.moved_clock  # noqa: F401

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--mode", choices=("webhook", "sms"), required=True)
    parser.add_argument("--secret", default="")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--crash-after", type=int, default=0)
    parser.add_argument("--status", type=int, default=0)
    args = parser.parse_args()

    db = sqlite3.connect(args.db, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(SCHEMA)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *a: object) -> None:
            pass

        def _answer(self, status: int, payload: dict[str, object]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if args.status:
                self._answer(args.status, {"error": "configured to fail"})
                return
            if args.mode == "webhook":
                stamp = self.headers.get("X-Sanshi-Timestamp", "")
                want = "sha256=" + hmac.new(
                    args.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                given = self.headers.get("X-Sanshi-Signature", "")
                fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
                if not (fresh and hmac.compare_digest(want, given)):
                    self._answer(401, {"error": "bad signature"})
                    return
            elif self.headers.get("X-Api-Key") != args.api_key:
                self._answer(401, {"error": "bad api key"})
                return
            key = self.headers.get("Idempotency-Key", "")
            if not key:
                self._answer(400, {"error": "no Idempotency-Key"})
                return
            with lock:
                new = db.execute(
                    "INSERT INTO received (key, body, deliveries, first_at) VALUES (?, ?, 1, ?) "
                    "ON CONFLICT(key) DO NOTHING",
                    (key, body.decode("utf-8"), time.time()),
                ).rowcount
                if not new:
                    db.execute("UPDATE received SET deliveries = deliveries + 1 WHERE key = ?", (key,))
                stored = db.execute("SELECT count(*) FROM received").fetchone()[0]
            if new and args.crash_after and stored >= args.crash_after:
                os.kill(os.getpid(), signal.SIGKILL)  # stored, never answered
            self._answer(200, {"ok": True, "duplicate": not new})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
