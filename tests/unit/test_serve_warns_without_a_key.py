"""`sanshi serve` says at every start when the database will hold residents' words in clear."""

from __future__ import annotations

import pytest

from adapters.cli.serve import _started


def test_serve_warns_without_the_cipher_key_and_not_with_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SANSHI_CIPHER_KEY", raising=False)
    _started("127.0.0.1", 8000, "指标 /metrics", demo=True)
    out = capsys.readouterr()
    assert "服务已启动" in out.out
    assert "未设置 SANSHI_CIPHER_KEY" in out.err and "明文" in out.err

    monkeypatch.setenv("SANSHI_CIPHER_KEY", "a" * 44)
    _started("127.0.0.1", 8000, "指标 /metrics", demo=False)
    out = capsys.readouterr()
    assert "服务已启动" in out.out and out.err == ""
