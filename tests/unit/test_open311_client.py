"""A third-party Open311 client, unchanged, against the real HTTP server.

`georeport` (PyPI) is a GeoReport v2 wrapper written for US cities' endpoints; it reads
services, definitions and requests in JSON and XML. It has no call for creating requests, so
the request is POSTed form-encoded with api_key exactly as the spec describes. It reads without
a key (it sends its key only when creating), so it gets the public view: the same requests,
without what the resident wrote or where they live; a read with ``?api_key=`` (what GeoReport
clients send) gets the whole request.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

georeport = pytest.importorskip("georeport")
import uvicorn  # noqa: E402

from adapters.bootstrap import bootstrap  # noqa: E402
from adapters.http import create_app  # noqa: E402
from engine.settings import Settings  # noqa: E402
from tests.support.api import OPERATOR  # noqa: E402


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runtime = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/open311/v2"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.close()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_standard_client_reads_what_was_posted(endpoint: str, fmt: str) -> None:
    client = georeport.GeoReport(endpoint, output_format=fmt)
    services = client.get_service_list()
    codes = [s["service_code"] for s in services]
    assert "municipal" in codes and "dispute" in codes
    definition = client.get_service_definition("dispute")
    assert definition["service_code"] == "dispute"

    posted = httpx.post(
        f"{endpoint}/requests.{fmt}",
        data={
            "api_key": OPERATOR,
            "service_code": "municipal",
            "address_string": "北海市海城区珠海路18号",
            # Two different problems: the same text twice would be merged as a duplicate.
            "description": {
                "json": "珠海路18号人行道井盖松动，踩上去会翻",
                "xml": "珠海路18号对面的路灯杆被车撞歪了，随时可能倒下来",
            }[fmt],
            "lat": "21.4733",
            "long": "109.1098",
        },
    )
    assert posted.status_code == 201, posted.text
    if fmt == "json":
        sid = posted.json()[0]["service_request_id"]
    else:
        sid = posted.text.split("<service_request_id>")[1].split("<")[0]

    one = client.get_service_request(sid)
    assert one["service_request_id"] == sid
    assert one["status"] == "open" and one["agency_responsible"] == "珠海路社区"
    assert one["address"] == "海城区中街街道" and not one["description"]
    listed = client.get_service_requests(status="open,closed", service_code="municipal")
    if isinstance(listed, dict):  # xmltodict: one <request> is a dict, several a list
        listed = [listed]
    assert sid in [r["service_request_id"] for r in listed]
    assert not any(r["description"] for r in listed)

    keyed = httpx.get(f"{endpoint}/requests/{sid}.{fmt}", params={"api_key": OPERATOR})
    assert keyed.status_code == 200
    assert "珠海路18号" in keyed.text and "珠海路18号" not in httpx.get(f"{endpoint}/requests/{sid}.{fmt}").text
