"""Real PostgreSQL and Apache Kafka servers for the test suite.

Each server runs from a fresh temporary folder on loopback-only free ports and is
removed again by ``stop()``. Binaries come from ``scripts/install-test-deps.sh``:
PostgreSQL from Debian's packages, Kafka's broker jars from Maven Central into
``$SANSHI_CACHE`` (default ``~/.cache/sanshi``).

Stdlib only. When a server cannot be started because something is not installed,
``ServiceUnavailable`` is raised (the fixtures in ``tests/conftest.py`` turn it into
a skip locally and a failure in CI); any other failure raises ``ServiceError``.

Start-up times are logged to the ``sanshi.tests.services`` logger and appended to
``$SANSHI_CACHE/service-timings.log``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import glob
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("sanshi.tests.services")

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_VERSION_FILE = REPO_ROOT / "scripts" / "kafka" / "VERSION"
INSTALL_HINT = "run scripts/install-test-deps.sh"


class ServiceError(RuntimeError):
    """A server failed to start or stop."""


class ServiceUnavailable(ServiceError):
    """The server's binaries or jars are not installed on this machine."""


def cache_dir() -> Path:
    """Where install-test-deps.sh keeps downloaded jars (outside git)."""
    return Path(os.environ.get("SANSHI_CACHE") or Path.home() / ".cache" / "sanshi")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 50) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(deque(f, maxlen=lines))
    except OSError as e:
        return f"<cannot read {path}: {e}>"


def _record_timing(service: str, seconds: float, detail: str = "") -> None:
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {service} started in {seconds:.2f}s {detail}".rstrip()
    log.info(line)
    try:
        d = cache_dir()
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "service-timings.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:
        pass


def _die_with_parent() -> Callable[[], None] | None:
    """preexec_fn that makes the child get SIGTERM when the starting thread dies.

    Keeps a broker from outliving a killed pytest. Linux only; None elsewhere.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def fn() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return fn


# Servers still running at interpreter exit are stopped (an aborted session).
_running: set[PostgresServer | KafkaBroker] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()


# A process killed outright (SIGKILL, OOM) runs no atexit: its Kafka broker dies
# with it (PR_SET_PDEATHSIG) but a PostgreSQL started by pg_ctl lives on. Each
# server folder records its owner; the next server started on this machine
# stops and removes the folders whose owner is gone.
_TMP_PREFIXES = ("sanshi-pg-", "sanshi-kafka-")
_OWNER_FILE = "owner"
_reaped = False


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime


def _make_tmpdir(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    pid = os.getpid()
    (d / _OWNER_FILE).write_text(f"{pid} {_proc_start_time(pid) or '-'}\n", encoding="utf-8")
    return d


def _owner_alive(d: Path) -> bool:
    try:
        pid_s, start = (d / _OWNER_FILE).read_text(encoding="utf-8").split()
        pid = int(pid_s)
    except (OSError, ValueError):
        # No owner file: too young to have one, or not ours. Leave it for an hour.
        try:
            return time.time() - d.stat().st_mtime < 3600
        except OSError:
            return True
    now = _proc_start_time(pid)
    if now is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return start == "-"
    return start in ("-", now)


def _pid_in_dir(pid: int, d: Path) -> bool:
    """Is pid a live process whose command line names folder d?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return str(d).encode() in cmdline


def _kill_orphan(d: Path) -> None:
    pidfiles = [d / "data" / "postmaster.pid", d / "kafka.pid"]
    for pidfile in pidfiles:
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if not _pid_in_dir(pid, d):
            continue
        # postgres: SIGQUIT is an immediate shutdown; kafka: its own process group.
        sig = signal.SIGQUIT if pidfile.name == "postmaster.pid" else signal.SIGKILL
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pidfile.name == "kafka.pid":
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while _pid_in_dir(pid, d) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_in_dir(pid, d):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def reap_orphans() -> list[Path]:
    """Stop servers and remove folders left by test processes that were killed."""
    removed = []
    for d in Path(tempfile.gettempdir()).iterdir():
        if not d.name.startswith(_TMP_PREFIXES) or not d.is_dir() or _owner_alive(d):
            continue
        _kill_orphan(d)
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    if removed:
        log.warning("removed test servers left by killed processes: %s", removed)
    return removed


def _reap_once() -> None:
    global _reaped
    if not _reaped:
        _reaped = True
        with contextlib.suppress(OSError):
            reap_orphans()


# --------------------------------------------------------------------- PostgreSQL

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def postgres_bindir() -> Path:
    """The newest /usr/lib/postgresql/<ver>/bin with initdb, or $SANSHI_PG_BIN."""
    env = os.environ.get("SANSHI_PG_BIN")
    if env:
        candidates = [env]
    else:

        def version(p: str) -> tuple[int, ...]:
            ver = Path(p).parent.parent.name
            return tuple(int(x) for x in re.findall(r"\d+", ver)) or (0,)

        candidates = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True
        )
        candidates = [str(Path(c).parent) for c in candidates]
    for c in candidates:
        if (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    raise ServiceUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}"
    )


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1 with trust auth.

    >>> pg = PostgresServer(); pg.start()
    >>> pg.url                       # postgresql://sanshi:sanshi@127.0.0.1:PORT/sanshi
    >>> pg.create_database("t_1")    # -> URL of a new, empty database
    >>> pg.restart(); pg.stop()
    """

    user = "sanshi"
    password = "sanshi"
    database = "sanshi"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or 0
        self.tmpdir: Path | None = None
        self.bindir: Path | None = None
        self.running = False
        self.startup_seconds: float | None = None

    # -- public ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def datadir(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "data"

    @property
    def logfile(self) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir / "postgres.log"

    def start(self) -> PostgresServer:
        if self.running:
            return self
        t0 = time.monotonic()
        self.bindir = postgres_bindir()
        if self.tmpdir is None:
            self._initdb()
        self._pg_ctl_start()
        self.running = True
        _running.add(self)
        if not self._database_exists(self.database):
            self._psql("postgres", f'CREATE DATABASE "{self.database}"')
            self._psql("postgres", f"ALTER ROLE \"{self.user}\" PASSWORD '{self.password}'")
        self.startup_seconds = time.monotonic() - t0
        _record_timing("postgres", self.startup_seconds, f"port={self.port} bin={self.bindir}")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and remove its folder."""
        self._shutdown(mode)
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        _running.discard(self)

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same data folder and port.

        mode="immediate" stops without a checkpoint, like a crash: the next
        start runs crash recovery.
        """
        self._shutdown(mode)
        self.start()

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"bad database name {name!r}")
        self._psql("postgres", f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        if not _DB_NAME.match(name):
            raise ValueError(f"bad database name {name!r}")
        self._psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- internals ------------------------------------------------------------
    def _as_postgres(self, cmd: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root.
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise ServiceUnavailable("running as root but runuser is missing")
            return ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def _run(self, cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        assert self.tmpdir is not None
        try:
            proc = subprocess.run(
                self._as_postgres(cmd),
                cwd=self.tmpdir,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
            )
        except subprocess.TimeoutExpired as e:
            raise ServiceError(f"timed out after {timeout}s: {' '.join(cmd)}") from e
        return proc

    def _initdb(self) -> None:
        assert self.bindir is not None
        _reap_once()
        self.tmpdir = _make_tmpdir("sanshi-pg-")
        if os.geteuid() == 0:
            try:
                import pwd

                pw = pwd.getpwnam("postgres")
            except KeyError as e:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
                self.tmpdir = None
                raise ServiceUnavailable(
                    f"running as root and there is no 'postgres' OS user: {INSTALL_HINT}"
                ) from e
            os.chown(self.tmpdir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.tmpdir, 0o700)
        proc = self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        if proc.returncode != 0:
            out = proc.stdout + proc.stderr
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
            raise ServiceError(f"initdb failed ({proc.returncode}):\n{out}")

    def _write_conf(self) -> None:
        assert self.tmpdir is not None
        conf = self.datadir / "postgresql.auto.conf"
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.tmpdir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
        }
        text = "".join(f"{k} = {v}\n" for k, v in settings.items())
        conf.write_text(text, encoding="utf-8")
        if os.geteuid() == 0:  # keep it the server's, so ALTER SYSTEM can rewrite it
            st = os.stat(self.datadir)
            os.chown(conf, st.st_uid, st.st_gid)

    def _pg_ctl_start(self) -> None:
        assert self.bindir is not None and self.tmpdir is not None
        fixed_port = self.port != 0
        attempts = 1 if fixed_port else 3
        last = ""
        for _ in range(attempts):
            if not fixed_port:
                self.port = free_port()
            self._write_conf()
            proc = self._run(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                timeout=90,
            )
            if proc.returncode == 0 and self._ready(timeout=30):
                return
            last = f"pg_ctl start failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}\n--- log:\n{tail(self.logfile)}"
            self._run(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                timeout=60,
            )
            if fixed_port:
                break
            self.port = 0
        raise ServiceError(last)

    def _ready(self, timeout: float) -> bool:
        assert self.bindir is not None
        deadline = time.monotonic() + timeout
        isready = self.bindir / "pg_isready"
        while time.monotonic() < deadline:
            if isready.is_file():
                proc = self._run(
                    [
                        str(isready),
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(self.port),
                        "-U",
                        self.user,
                        "-d",
                        "postgres",
                        "-q",
                    ],
                    timeout=10,
                )
                if proc.returncode == 0:
                    return True
            elif port_open(self.port):
                return True
            time.sleep(0.1)
        return False

    def _shutdown(self, mode: str) -> None:
        if not self.running or self.tmpdir is None or self.bindir is None:
            self.running = False
            return
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(mode)
        pg_ctl = str(self.bindir / "pg_ctl")
        proc = self._run(
            [pg_ctl, "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", "stop"], timeout=90
        )
        if proc.returncode != 0 and self._postmaster_running():
            self._run(
                [pg_ctl, "-D", str(self.datadir), "-m", "immediate", "-w", "stop"], timeout=60
            )
        if self._postmaster_running():
            pid = self._postmaster_pid()
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.running = False

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.datadir / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, ValueError, IndexError):
            return None

    def _postmaster_running(self) -> bool:
        pid = self._postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _psql(self, database: str, sql: str) -> str:
        assert self.bindir is not None and self.tmpdir is not None
        proc = self._run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.tmpdir),
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-c",
                sql,
            ],
            timeout=60,
        )
        if proc.returncode != 0:
            raise ServiceError(f"psql failed: {sql}\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def _database_exists(self, name: str) -> bool:
        out = self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        return out.strip() == "1"

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------- Kafka


def kafka_version() -> str:
    try:
        return KAFKA_VERSION_FILE.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ServiceUnavailable(f"cannot read {KAFKA_VERSION_FILE}: {e}") from e


def kafka_libs() -> Path:
    """Folder of the broker's jars, as filled by install-test-deps.sh."""
    env = os.environ.get("SANSHI_KAFKA_LIBS")
    libs = Path(env) if env else cache_dir() / f"kafka-{kafka_version()}" / "libs"
    if not (libs / ".complete").is_file() and not env:
        raise ServiceUnavailable(f"Kafka broker jars not installed in {libs}: {INSTALL_HINT}")
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise ServiceUnavailable(f"no kafka_2.13 jar in {libs}: {INSTALL_HINT}")
    return libs


def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise ServiceUnavailable(f"java not found: {INSTALL_HINT}")
    return java


_LOG4J2 = """\
status = warn
name = sanshi-test-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {logfile}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


class KafkaBroker:
    """A single-node KRaft Kafka broker (broker + controller) on 127.0.0.1.

    >>> k = KafkaBroker(); k.start()
    >>> k.bootstrap                  # "127.0.0.1:PORT"
    >>> k.restart(); k.kill(); k.start(); k.stop()
    """

    READY_LINE = "Kafka Server started"

    def __init__(
        self,
        start_timeout: float = 90.0,
        heap: str = "-Xms512m -Xmx1g",
        extra_properties: dict[str, str] | None = None,
    ) -> None:
        self.start_timeout = start_timeout
        self.heap = heap
        self.extra_properties = dict(extra_properties or {})
        self.port = 0
        self.controller_port = 0
        self.tmpdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self._log_offset = 0
        self.startup_seconds: float | None = None
        self.cluster_id = ""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def logfile(self) -> Path:
        assert self.tmpdir is not None, "broker not started"
        return self.tmpdir / "server.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> KafkaBroker:
        """Start the broker; the first call formats a new data folder."""
        if self.running:
            return self
        t0 = time.monotonic()
        libs = kafka_libs()
        java = java_bin()
        fresh = self.tmpdir is None
        if fresh:
            _reap_once()
            self.tmpdir = _make_tmpdir("sanshi-kafka-")
            self.port, self.controller_port = free_port(), free_port()
            while self.controller_port == self.port:
                self.controller_port = free_port()
            # A leading '-' would be read by the storage tool as an option: draw again.
            self.cluster_id = "-"
            while self.cluster_id.startswith("-"):
                self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self._write_config()
        assert self.tmpdir is not None
        classpath = f"{libs}/*"
        log4j = f"-Dlog4j2.configurationFile={self.tmpdir / 'log4j2.properties'}"
        try:
            if fresh:
                proc = subprocess.run(
                    [
                        java,
                        "-Xmx256m",
                        "-XX:TieredStopAtLevel=1",
                        log4j,
                        "-cp",
                        classpath,
                        "kafka.tools.StorageTool",
                        "format",
                        "--standalone",
                        "-t",
                        self.cluster_id,
                        "-c",
                        str(self.tmpdir / "server.properties"),
                    ],
                    cwd=self.tmpdir,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                if proc.returncode != 0:
                    raise ServiceError(
                        f"kafka StorageTool format failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
                    )
            self._launch(java, classpath, log4j)
            self._wait_ready(t0)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        _record_timing(
            "kafka",
            self.startup_seconds,
            f"version={kafka_version()} port={self.port} {'format+start' if fresh else 'restart'}",
        )
        return self

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and remove its folder."""
        self._terminate()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        _running.discard(self)

    def kill(self) -> None:
        """SIGKILL the broker, keeping its data: a crash. start() brings it back."""
        self._terminate(graceful=False)

    def restart(self, graceful: bool = True) -> None:
        """Stop and start again with the same data folder and ports."""
        self._terminate(graceful=graceful)
        self.start()

    # -- internals ------------------------------------------------------------
    def _write_config(self) -> None:
        assert self.tmpdir is not None
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.tmpdir / "data"),
            "num.partitions": "4",
            "auto.create.topics.enable": "true",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # After a kill (crash test) the restarted broker cannot register until
            # the controller expires its old session: 9 s by default, 5 s here.
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "5000",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.retention.check.interval.ms": "300000",
            # The suite may run on a moved clock (tests/support/moved_clock.py): Python's producers
            # then stamp records years ahead of the broker's real clock, which Kafka 4 refuses after
            # an hour by default (log.message.timestamp.after.max.ms). Nor may retention drop them.
            "log.message.timestamp.after.max.ms": str(2**63 - 1),
            "log.message.timestamp.before.max.ms": str(2**63 - 1),
            "log.retention.ms": "-1",
            **self.extra_properties,
        }
        (self.tmpdir / "server.properties").write_text(
            "".join(f"{k}={v}\n" for k, v in props.items()), encoding="utf-8"
        )
        (self.tmpdir / "log4j2.properties").write_text(
            _LOG4J2.format(logfile=self.tmpdir / "server.log"), encoding="utf-8"
        )

    def _launch(self, java: str, classpath: str, log4j: str) -> None:
        assert self.tmpdir is not None
        cmd = [
            java,
            *self.heap.split(),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            log4j,
            *os.environ.get("SANSHI_KAFKA_JVM_OPTS", "").split(),
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self.tmpdir / "server.properties"),
        ]
        self._stdout = open(self.tmpdir / "stdout.log", "ab")  # noqa: SIM115 (closed in _terminate)
        kwargs: dict[str, Any] = {}
        pre = _die_with_parent()
        if pre is not None:
            kwargs["preexec_fn"] = pre
        self._log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.tmpdir,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches the whole JVM
            **kwargs,
        )
        (self.tmpdir / "kafka.pid").write_text(f"{self.proc.pid}\n", encoding="utf-8")
        _running.add(self)

    def _wait_ready(self, t0: float) -> None:
        assert self.proc is not None
        deadline = t0 + self.start_timeout
        seen = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"Kafka broker exited with {self.proc.returncode}:\n{self._diagnostics()}"
                )
            if not seen:
                try:
                    with open(self.logfile, "rb") as f:
                        f.seek(self._log_offset)
                        seen = self.READY_LINE.encode() in f.read()
                except OSError:
                    pass
            if seen and port_open(self.port):
                return
            time.sleep(0.1)
        raise ServiceError(
            f"Kafka broker not ready after {self.start_timeout:.0f}s:\n{self._diagnostics()}"
        )

    def _diagnostics(self) -> str:
        assert self.tmpdir is not None
        return (
            f"--- last 50 lines of {self.logfile}:\n{tail(self.logfile)}"
            f"--- last 50 lines of stdout:\n{tail(self.tmpdir / 'stdout.log')}"
        )

    def _terminate(self, graceful: bool = True, timeout: float = 30.0) -> None:
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                sig = signal.SIGTERM if graceful else signal.SIGKILL
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    log.warning("Kafka broker ignored SIGTERM for %.0fs; killing", timeout)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
            # Anything left in the group (there should be nothing).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            self.proc = None
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
