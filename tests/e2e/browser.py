"""Headless Chromium (Debian's) logged in to the Airflow UI of the session stack, for the browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS

SHOTS = ARTIFACTS / "browser"
CHROMIUM = os.environ.get("RETRAIN_CHROMIUM", "/usr/bin/chromium")
# As root in a sandbox without a network: no setuid sandbox, no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def logged_in_page(stack: Any, dag_id: str) -> Iterator[Any]:
    """A page signed in to the Airflow UI as the stack's admin, showing ``dag_id``."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make setup` installs Debian's chromium package")
    SHOTS.mkdir(parents=True, exist_ok=True)
    stack.airflow_api().wait_for_dag(dag_id)  # parsed, so the UI can show it
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        pg = context.new_page()
        pg.goto(f"{stack.config.url('airflow')}/dags/{dag_id}")
        pg.locator("input[name=username]").fill(stack.creds.airflow_username)
        pg.locator("input[name=password]").fill(stack.creds.airflow_password)
        pg.get_by_role("button", name="Sign in").click()
        pg.wait_for_url(f"**/dags/{dag_id}**")
        try:
            yield pg
        finally:
            context.close()
            browser.close()


def shot(pg: Any, name: str) -> None:
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
