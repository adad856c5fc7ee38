"""docker-compose.yml and deploy/Dockerfile describe a deployment the code can actually run.

No Docker engine here: the file is parsed (PyYAML) and checked against what the code reads
(every SANSHI_* variable), the commands it runs (each `command:` parses as a `sanshi` command
line), and the versions CI tests against (PostgreSQL 15, Kafka from scripts/kafka/VERSION)."""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from adapters.cli import main
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SANSHI_SERVICES = ("init", "api", "worker", "projector")
SPEC_VARIABLES = {"SANSHI_DB", "SANSHI_KAFKA", "SANSHI_CONFIG", "SANSHI_CIPHER_KEY"}

# What an operator exports before `docker compose up` (see the header of the file).
SHELL = {
    "POSTGRES_PASSWORD": "s3cret-Pw_1",  # goes into a URL: no / @ : # or spaces
    "SANSHI_CIPHER_KEY": "GZqZexP9S9jiYgf54y+13BPdqJAvdr9t6h2bpO/lHAk=",
    "SANSHI_DISTRICT_FILE": "./district.yaml",
}
_VAR = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} (enough for this file)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        name, kind, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if kind == "-":
            return arg
        raise KeyError(f"{name}: {arg}")

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, SHELL)  # type: ignore[no-any-return]


def source_text() -> str:
    return "\n".join(
        p.read_text("utf-8")
        for d in ("engine", "adapters", "projections")
        for p in (ROOT / d).rglob("*.py")
    )


def test_refuses_to_start_without_the_secrets(raw: dict[str, Any]) -> None:
    for missing in SHELL:
        env = {k: v for k, v in SHELL.items() if k != missing}
        with pytest.raises(KeyError, match=missing):
            interpolate(raw, env)


def test_services_and_their_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "kafka", "init", *SANSHI_SERVICES}
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["kafka"]["condition"] == "service_healthy"
        assert deps["init"]["condition"] == "service_completed_successfully"
    assert services["init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("postgres", "kafka", "api"):
        assert services[name]["healthcheck"]["test"], name
    # Three workers in one consumer group, intake keyed by place (each holds the duplicate index
    # of its partitions' places), no more than the intake topic's partitions (an extra one
    # would idle); the views are followed by their own processes.
    from adapters.transport.kafka import KafkaSettings

    workers = services["worker"]["deploy"]["replicas"]
    assert workers == 3
    assert workers <= KafkaSettings.from_env({}).partitions
    assert workers <= int(services["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"])
    assert services["worker"]["command"] == ["worker", "--no-projections"]
    assert services["projector"]["command"] == ["projections", "follow"]
    # Two followers, one of them a standby: the follow lease is a PostgreSQL advisory lock, so
    # both must be on PostgreSQL (on SQLite each would think itself the only process).
    assert services["projector"]["deploy"]["replicas"] == 2
    assert services["projector"]["environment"]["SANSHI_DB"].startswith("postgresql://")
    assert services["projector"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert "SANSHI_WORKER_ID" not in services["worker"]["environment"]
    # Two API processes on one port, which sanshi allows only on PostgreSQL.
    api = [str(a) for a in services["api"]["command"]]
    assert api[api.index("--workers") + 1] == "2"
    assert services["api"]["environment"]["SANSHI_DB"].startswith("postgresql://")


def test_postgres_keeps_its_data_and_matches_the_tested_major(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert pg["image"] == "postgres:15"
    volume, target = pg["volumes"][0].split(":")[:2]
    assert target == "/var/lib/postgresql/data"
    assert volume in compose["volumes"]


def test_kafka_is_a_single_kraft_node_of_the_tested_version(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    version = (ROOT / "scripts" / "kafka" / "VERSION").read_text().strip()
    assert kafka["image"] == f"apache/kafka:{version}"
    env = {k: str(v) for k, v in kafka["environment"].items()}
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    # The quorum is this node, on its controller listener.
    voter_id, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert voter_id == env["KAFKA_NODE_ID"]
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    assert listeners[env["KAFKA_CONTROLLER_LISTENER_NAMES"]] == ":" + voter.split(":")[1]
    assert voter.split(":")[0] == kafka["hostname"] == "kafka"
    # KRaft cluster ids are 16 bytes in url-safe base64 without padding (22 characters).
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert env[key] == "1"
    volume, target = kafka["volumes"][0].split(":")[:2]
    assert target == env["KAFKA_LOG_DIRS"]
    assert volume in compose["volumes"]


def test_every_sanshi_variable_is_one_the_code_reads(compose: dict[str, Any]) -> None:
    code = source_text()
    for name in SANSHI_SERVICES:
        env = compose["services"][name]["environment"]
        names = {k for k in env if k.startswith("SANSHI_")}
        assert names >= SPEC_VARIABLES, name
        for var in names:
            assert f'"{var}"' in code, f"{var} is set in compose but no code reads it"


def test_the_settings_the_services_get_point_at_the_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = {k: str(v) for k, v in services["api"]["environment"].items()}
    settings = Settings.from_env(env)
    assert settings.is_postgres
    es = settings.eventsourcing_env()
    pg = services["postgres"]["environment"]
    assert es["POSTGRES_HOST"] == "postgres"
    assert es["POSTGRES_DBNAME"] == pg["POSTGRES_DB"]
    assert es["POSTGRES_USER"] == pg["POSTGRES_USER"]
    assert es["POSTGRES_PASSWORD"] == pg["POSTGRES_PASSWORD"] == SHELL["POSTGRES_PASSWORD"]
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert settings.kafka is not None
    assert f"PLAINTEXT://{settings.kafka}" in advertised.split(",")
    assert settings.cipher_key == SHELL["SANSHI_CIPHER_KEY"]
    # The district file is mounted where SANSHI_CONFIG looks.
    mounts = [v.split(":") for v in services["api"]["volumes"]]
    assert [SHELL["SANSHI_DISTRICT_FILE"], settings.config_path, "ro"] in mounts


def _resolve(args: list[str]) -> tuple[click.Command, list[str]]:
    command: click.Command = main
    ctx = click.Context(main)
    rest = list(args)
    while isinstance(command, click.Group) and rest:
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"sanshi has no command {rest[0]!r} (args {args})"
        command, rest = sub, rest[1:]
        ctx = click.Context(command, parent=ctx)
    return command, rest


@pytest.mark.parametrize("service", SANSHI_SERVICES)
def test_each_command_is_a_sanshi_command_line(compose: dict[str, Any], service: str) -> None:
    args = [str(a) for a in compose["services"][service]["command"]]
    command, rest = _resolve(args)
    assert not isinstance(command, click.Group), "a group, not a command"
    command.make_context(command.name or "", rest)  # unknown options or bad values raise


def test_the_api_port_and_health_check_are_the_apps(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    args = [str(a) for a in api["command"]]
    port = args[args.index("--port") + 1]
    assert api["ports"] == [f"8311:{port}"]
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(api["healthcheck"]["test"])
    from adapters.bootstrap import bootstrap
    from adapters.http import create_app

    runtime = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    try:
        paths = set(create_app(runtime).openapi()["paths"])
    finally:
        runtime.close()
    assert "/healthz" in paths


def test_the_image_installs_this_package_and_runs_sanshi(compose: dict[str, Any]) -> None:
    text = DOCKERFILE.read_text("utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for line in lines:
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"COPY {src}: missing in the build context"
    assert "RUN pip install ." in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert 'ENTRYPOINT ["sanshi"]' in lines
    assert "sanshi" in project["project"]["scripts"]
    for name in SANSHI_SERVICES:
        build = compose["services"][name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    # The packages the image installs include every one the code is in.
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in ("engine", "adapters", "projections"):
        assert f"{package}*" in include
        assert f"COPY {package} ./{package}" in lines
    cmd = re.search(r'^CMD (\[.*\])$', text, re.M)
    assert cmd is not None
    command, rest = _resolve(yaml.safe_load(cmd.group(1)))
    command.make_context(command.name or "", rest)
    exposed = re.search(r"^EXPOSE (\d+)$", text, re.M)
    assert exposed is not None and f":{exposed.group(1)}" in compose["services"]["api"]["ports"][0]


def test_the_cipher_key_the_services_get_encrypts_the_log(tmp_path: Path) -> None:
    """SANSHI_CIPHER_KEY as compose passes it: events stored unreadable, read back intact."""
    import datetime as dt
    import sqlite3

    from adapters.bootstrap import bootstrap
    from engine.deadlines import SHANGHAI
    from engine.intake import IntakeCommand

    db = tmp_path / "enc.db"
    settings = Settings.from_env({"SANSHI_DB": f"sqlite:///{db}",
                                  "SANSHI_CIPHER_KEY": SHELL["SANSHI_CIPHER_KEY"]})
    runtime = bootstrap(settings)
    text = "茶亭路幸福里小区门口的路灯坏了好几天了"
    try:
        result = runtime.app.receive(IntakeCommand(
            channel="hotline", source_ref="ENC-1", content=text, address="北海市海城区茶亭路",
            received_at=dt.datetime(2026, 9, 7, 9, tzinfo=SHANGHAI)))
        assert runtime.app.get_case(result.case_id).content == text
    finally:
        runtime.close()
    con = sqlite3.connect(db)
    try:
        states = [bytes(r[0]) for r in con.execute("SELECT state FROM stored_events")]
    finally:
        con.close()
    assert states
    assert not any("茶亭路".encode() in s or b"hotline" in s for s in states)
