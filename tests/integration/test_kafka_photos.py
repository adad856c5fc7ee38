"""The app's photos through a real Kafka broker (docs/attachments.md): an app record with photo
URLs published to ``sanshi.intake``; ``sanshi worker`` applies it, commits, then its own step
fetches the allowed host's photo onto the case; the other host is never requested; a photo host
that answers 404 leaves the case recorded with the failure noted."""

from __future__ import annotations

import pytest

from adapters.bootstrap import bootstrap
from adapters.transport import submit
from adapters.transport.kafka import KafkaSettings
from adapters.transport.worker import Worker, WorkerOptions
from engine.attachments import AttachmentSettings
from engine.config import load_config
from engine.domain import case_id_for
from engine.settings import Settings
from tests.integration.test_kafka_intake import Env, kafka_env  # noqa: F401
from tests.unit.test_photo_queue import PHOTO, site  # noqa: F401

pytestmark = pytest.mark.kafka


def test_the_worker_fetches_app_photos_after_the_commit(
    kafka_env: Env, site: tuple[str, dict[str, int]], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    host, seen = site
    port = host.split(":")[1]
    monkeypatch.setenv("SANSHI_KAFKA_PREFIX", kafka_env.prefix)
    settings = Settings(db=kafka_env.db_url, kafka=kafka_env.kafka, config_path=None, cipher_key=None)
    config = load_config(None).model_copy(
        update={"attachments": AttachmentSettings(fetch_hosts=[host], fetch_timeout_seconds=2.0)}
    )
    runtime = bootstrap(settings, config=config)
    try:
        photos = [f"http://{host}/photo.png", f"http://localhost:{port}/secret.png", f"http://{host}/missing.png"]
        record = {"submission_id": "KPHOTO1", "content": "茶亭路幸福里小区路灯不亮，晚上漆黑一片",
                  "address": "北海市海城区茶亭路幸福里小区", "photos": photos}
        assert submit(runtime, "app", record).status == "queued"
        assert not seen  # publishing fetched nothing
        stats = Worker(runtime, KafkaSettings.from_env(kafka_env.kafka),
                       WorkerOptions(clock_interval=0, poll_timeout_ms=200, session_timeout_ms=6000)
                       ).run(idle_exit=1.0, max_seconds=60)
        assert stats.counts["photo_fetches"] >= 2
        case = runtime.app.get_case(case_id_for("app", "KPHOTO1"))
        assert [a["source_url"] for a in case.attachments] == [photos[0]]
        assert seen["/photo.png"] == 1 and seen["/missing.png"] == 1 and "/secret.png" not in seen
        by_url = {f.url: f for f in runtime.photo_queue.of_case(case.id)}
        assert by_url[photos[0]].status == "stored"
        assert (by_url[photos[2]].status, by_url[photos[2]].reason) == ("pending", "HTTP 404")
        assert photos[1] not in by_url
        assert case.extra["photos"] == photos
    finally:
        runtime.close()
