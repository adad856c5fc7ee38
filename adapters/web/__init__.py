"""The Chinese web UI: static HTML/CSS/JS shipped inside the package (no CDN, no build step)."""

from __future__ import annotations

from pathlib import Path


def static_dir() -> Path:
    return Path(__file__).resolve().parent / "static"
