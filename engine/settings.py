"""docs/configuration.md: environment variables → settings, and SANSHI_DB → eventsourcing's environment."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

DEFAULT_DATA_DIR = Path("sanshi-data")
# Seconds PostgreSQL may take to give a connection: a new one (libpq connect_timeout; without
# it a host that drops packets holds a connect for ~2 minutes) and a pooled one (eventsourcing's
# POSTGRES_CONNECT_TIMEOUT is its pool's wait, 30 s by default, and every read and write of the
# log is tried 10 times). With the database down, requests then fail in seconds, not minutes.
POSTGRES_CONNECT_TIMEOUT = 5
# The district secret (SANSHI_DISTRICT_SECRET) keys the hash that replaces a police incident
# number (警情编号) wherever it would be kept: the case's source_ref, hence its id. Police
# numbers are short and sequential, so an unkeyed hash could be reversed by trying them all.
# Order of choice: SANSHI_DISTRICT_SECRET; else derived from SANSHI_CIPHER_KEY (a district
# that encrypts its log is protected without a second setting); else this development
# default, which protects nothing (anyone can recompute it). Never change it once police
# records were received: a re-sent record would then become a second case.
DEV_DISTRICT_SECRET = "sanshi-dev-district-secret (not secret; set SANSHI_DISTRICT_SECRET)"


@dataclass(frozen=True)
class Settings:
    db: str
    kafka: str | None
    config_path: str | None
    cipher_key: str | None
    # A token for /metrics and the detailed /healthz alone (a Prometheus scraper), so that the
    # scraper need not hold a leader's or an admin's token. Unset: only those two roles read them.
    metrics_token: str | None = None
    district_secret: str | None = None
    # 通知 (docs/notifications.md): where notices go. A channel whose variable is unset has no
    # sender, and no notice is decided for it; none set: no notices at all.
    smtp_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    sms_url: str | None = None
    sms_key: str | None = None
    # Topic and group names' prefix (SANSHI_KAFKA_PREFIX). None: the environment's, read where
    # the Kafka settings are made. A city gives each district its own (adapters.city).
    kafka_prefix: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        db = env.get("SANSHI_DB") or f"sqlite:///{DEFAULT_DATA_DIR / 'sanshi.db'}"
        return cls(
            db=db,
            kafka=env.get("SANSHI_KAFKA") or None,
            config_path=env.get("SANSHI_CONFIG") or None,
            cipher_key=env.get("SANSHI_CIPHER_KEY") or None,
            metrics_token=env.get("SANSHI_METRICS_TOKEN") or None,
            district_secret=env.get("SANSHI_DISTRICT_SECRET") or None,
            smtp_url=env.get("SANSHI_SMTP_URL") or None,
            webhook_url=env.get("SANSHI_WEBHOOK_URL") or None,
            webhook_secret=env.get("SANSHI_WEBHOOK_SECRET") or None,
            sms_url=env.get("SANSHI_SMS_URL") or None,
            sms_key=env.get("SANSHI_SMS_KEY") or None,
            kafka_prefix=env.get("SANSHI_KAFKA_PREFIX"),
        )

    @property
    def district_key(self) -> bytes:
        """The HMAC key for police incident numbers (see DEV_DISTRICT_SECRET)."""
        return district_key(self.district_secret, self.cipher_key)

    @property
    def notifies(self) -> bool:
        """Some channel of notices is configured."""
        return bool(self.smtp_url or self.webhook_url or self.sms_url)

    @property
    def is_postgres(self) -> bool:
        return self.db.startswith(("postgresql:", "postgres:", "postgresql+psycopg:"))

    @property
    def is_sqlite(self) -> bool:
        return self.db.startswith("sqlite:")

    @property
    def is_memory(self) -> bool:
        return self.db.startswith("memory:")

    def sqlite_path(self) -> Path:
        """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
        return Path(self.db.removeprefix("sqlite:///"))

    def eventsourcing_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.is_memory:
            env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        elif self.is_sqlite:
            path = self.sqlite_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
            env["SQLITE_DBNAME"] = str(path)
            env["SQLITE_LOCK_TIMEOUT"] = "30"
        elif self.is_postgres:
            u = urlparse(self.db)
            env["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
            env["POSTGRES_DBNAME"] = u.path.lstrip("/") or "sanshi"
            env["POSTGRES_HOST"] = u.hostname or "127.0.0.1"
            env["POSTGRES_PORT"] = str(u.port or 5432)
            env["POSTGRES_USER"] = unquote(u.username or "sanshi")
            env["POSTGRES_PASSWORD"] = unquote(u.password or "")
            # The default waits forever for the table lock (see shared/notes/eventsourcing.md).
            env["POSTGRES_LOCK_TIMEOUT"] = "10"
            env["POSTGRES_CONNECT_TIMEOUT"] = str(POSTGRES_CONNECT_TIMEOUT)
            env["POSTGRES_POOL_SIZE"] = "5"
            env["POSTGRES_MAX_OVERFLOW"] = "10"
        else:
            raise ValueError(f"SANSHI_DB must be sqlite:///…, postgresql://… or memory://, got {self.db!r}")
        if self.cipher_key:
            # AES-GCM from the `cryptography` package (eventsourcing.cipher needs pycryptodome).
            env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
            env["CIPHER_KEY"] = self.cipher_key
            env["COMPRESSOR_TOPIC"] = "eventsourcing.compressor:ZlibCompressor"
        return env

    def sqlalchemy_url(self) -> str:
        """Where the projections keep their tables: the same database as the log."""
        if self.is_memory:
            return "sqlite://"
        if self.is_sqlite:
            return f"sqlite:///{self.sqlite_path()}"
        u = urlparse(self.db)
        url = "postgresql+psycopg://" + self.db.split("://", 1)[1] if u.scheme else self.db
        if "connect_timeout=" not in (u.query or ""):
            url += ("&" if u.query else "?") + f"connect_timeout={POSTGRES_CONNECT_TIMEOUT}"
        return url


def district_key(district_secret: str | None, cipher_key: str | None) -> bytes:
    if district_secret:
        return district_secret.encode("utf-8")
    if cipher_key:
        # A derived key, not the cipher key itself: one key, one purpose.
        return hmac.new(cipher_key.encode("utf-8"), b"sanshi district secret v1", hashlib.sha256).digest()
    return DEV_DISTRICT_SECRET.encode("utf-8")


def cache_dir() -> Path:
    """Where sanshi keeps what it can make again (the fitted router, the sentence model's
    files, jieba's dictionary cache): ``SANSHI_CACHE``, else ``$XDG_CACHE_HOME/sanshi``, else
    ``~/.cache/sanshi`` (docs/configuration.md)."""
    explicit = os.environ.get("SANSHI_CACHE")  # the same variable the test services use
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sanshi"
