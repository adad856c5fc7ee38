"""The app's photo URLs: fetched only from configured hosts; any other URL is kept as given and
never requested (no request reaches it), redirects are not followed."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from adapters.attachments.fetch import PhotoFetcher
from engine.application import now_shanghai
from engine.intake import Channel, IntakeCommand
from tests.support.api import api_client
from tests.unit.test_attachments_api import photo

PHOTO = photo(41)


@pytest.fixture
def site() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if self.path == "/redirect.png":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(PHOTO)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()


def test_only_configured_hosts_are_fetched(site: tuple[str, list[str]]) -> None:
    host, seen = site
    with api_client() as (_client, rt):
        allowed = f"http://{host}/photos/%E7%8E%B0%E5%9C%BA.png"
        other = f"http://localhost:{host.split(':')[1]}/secret.png"  # same server, another name
        r = rt.app.receive(IntakeCommand(
            channel=Channel.APP, source_ref="F1", received_at=now_shanghai(),
            content="路灯不亮", address="海城区茶亭路1号",
            extra={"photos": [allowed, other, f"http://{host}/redirect.png", "file:///etc/passwd"]}))
        service = rt.attachments
        object.__setattr__(service, "settings", service.settings.model_copy(update={"fetch_hosts": [host]}))
        results = {f.url: f for f in PhotoFetcher(service).import_case(r.case_id)}
        assert results[allowed].outcome == "stored"
        assert results[other].outcome == "kept" and results["file:///etc/passwd"].outcome == "kept"
        assert results[f"http://{host}/redirect.png"].outcome == "failed"
        assert seen == ["/photos/%E7%8E%B0%E5%9C%BA.png", "/redirect.png"]  # never /secret.png
        case = rt.app.get_case(r.case_id)
        assert [(a["name"], a["source_url"]) for a in case.attachments] == [("现场.png", allowed)]
        # Again: already stored, nothing fetched twice.
        again = PhotoFetcher(service).import_case(r.case_id)
        assert [f.outcome for f in again if f.url == allowed] == ["duplicate"]
        assert len(seen) == 3  # only the redirect was tried again
