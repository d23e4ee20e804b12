"""Helpers of the console's browser tests: opening a page, screenshots (saved under
browser-artifacts/ at the repository root, or KAFKA_COMPAT_BROWSER_ARTIFACTS; listed at
the end of the run by conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(
    os.environ.get("KAFKA_COMPAT_BROWSER_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "browser-artifacts"
)
SAVED: list[Path] = []
GUARD_MS = 30_000  # how long a page may take to show what a test waits for


def open_console(page, route: str = "#/") -> None:
    page.goto(page.base + route)
    page.wait_for_selector("body[data-ready=true]")


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as <artifacts>/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SAVED.append(path)
    print(f"screenshot: {path}")
    return path
