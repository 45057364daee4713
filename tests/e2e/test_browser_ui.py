"""The Airflow UI in headless Chromium (Debian's), against the real api-server of the session stack.

A data engineer's clicks: the trigger form shows our params, a backfill is created from the
form, and a finished run's task shows its lakeFS and MLflow links. Screenshots of each step
are kept in test-artifacts/browser/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from devstack import nightly
from include.retrain import urls as L
from tests.e2e.browser import logged_in_page, shot
from tests.e2e.conftest import CAST, wait_for_backfill_runs


@pytest.fixture(scope="module")
def page(stack) -> Iterator[Any]:
    with logged_in_page(stack, CAST.dag_id) as pg:
        yield pg


_shot = shot


def _open_trigger_form(stack, pg: Any) -> Any:
    pg.goto(f"{stack.config.url('airflow')}/dags/{CAST.dag_id}")
    pg.wait_for_load_state("networkidle")
    pg.get_by_role("button", name="Trigger").first.click()
    dialog = pg.get_by_role("dialog")
    dialog.get_by_text("Run Parameters").wait_for()
    return dialog


def test_trigger_form_shows_every_param_with_its_description(stack, page):
    dialog = _open_trigger_form(stack, page)
    _shot(page, "01-trigger-form")
    text = dialog.inner_text()
    for name, description in (
        ("force_retrain", "Train even when nothing new was merged."),
        ("force_promote", "Promote even if the gate fails; recorded as an override on the version."),
        ("num_samples", f"Ray Tune trials (default {CAST.tune.num_samples})."),
        ("max_epochs", f"Epochs per trial (default {CAST.tune.max_epochs})."),
        ("gpus_per_trial", "GPUs per trial, fractional allowed"),
        ("drift_threshold", "PSI above which a feature counts as drifted"),
        ("ingest_only", "Ingest, validate and publish only"),
    ):
        assert name in text and description in text, name
        assert dialog.locator(f"input[name=element_{name}]").count() == 1, f"no input for {name}"
    assert dialog.locator("input[name=element_drift_threshold]").input_value() == "0.2"  # the default
    page.keyboard.press("Escape")


def _pick(dialog: Any, label: str, date: str, hhmm: str) -> None:
    """Fill one of the backfill form's date-time pickers (a popover with date and time inputs)."""
    field = dialog.get_by_role("group").filter(has=dialog.page.get_by_text(label, exact=True))
    field.get_by_test_id("datetime-input").click()
    popover = dialog.page.locator("[data-part=content][data-state=open]").last
    popover.get_by_placeholder("YYYY/MM/DD").fill(date.replace("-", "/"))
    popover.get_by_placeholder("HH:mm").fill(hhmm)
    popover.get_by_placeholder("HH:mm").press("Enter")
    dialog.get_by_text("Date Range", exact=True).click()  # closes the popover


def test_a_backfill_created_from_the_ui_runs_its_dates(stack, page):
    """As a user does it: the form's "Unpause on trigger" left ticked, so the DAG runs unpaused while
    the backfill's runs are created (what SQLite could not take; PostgreSQL does)."""
    dates = ["2026-09-14", "2026-09-15", "2026-09-16"]  # no other test of cast_metal uses them
    for date in dates:
        nightly.seed(stack, CAST, date, per_class=4)
    api = stack.airflow_api()
    api.pause(CAST.dag_id)  # the form offers "Unpause on trigger" for a paused DAG only
    scheduler = stack.pid("airflow-scheduler")
    before = {b["id"] for b in api.request("GET", "backfills", params={"dag_id": CAST.dag_id}).json()["backfills"]}
    dialog = _open_trigger_form(stack, page)
    dialog.get_by_text("Backfill", exact=True).click()
    unpause = dialog.locator("label", has_text=f"Unpause {CAST.dag_id} on trigger").locator("input")
    assert unpause.is_checked()  # the form's default, left as it is
    _pick(dialog, "From", dates[0], "00:00")
    _pick(dialog, "To", dates[-1], "23:59")
    dialog.locator("input[name=max_active_runs]").fill("3")
    # Airflow 3.3's form sends the params of a backfill only with this box ticked
    dialog.get_by_text("Override parameters on existing runs", exact=True).click()
    dialog.locator("label:has(input[name=element_ingest_only])").click()  # a switch: its input is hidden
    assert dialog.locator("input[name=element_ingest_only]").is_checked()
    dialog.get_by_text("3 runs will be triggered.").wait_for()  # the form's own dry run
    _shot(page, "02-backfill-form")
    dialog.get_by_role("button", name="Run Backfill").click()
    page.get_by_text("Backfill generated").first.wait_for()
    _shot(page, "03-backfill-created")
    assert api.request("GET", f"dags/{CAST.dag_id}").json()["is_paused"] is False  # the form unpaused it

    (backfill,) = [
        b
        for b in api.request("GET", "backfills", params={"dag_id": CAST.dag_id}).json()["backfills"]
        if b["id"] not in before
    ]
    assert backfill["max_active_runs"] == 3
    runs, _ = wait_for_backfill_runs(stack, CAST.dag_id, dates, timeout=600)
    assert [r["state"] for r in runs] == ["success"] * 3
    assert stack.pid("airflow-scheduler") == scheduler
    for r in runs:
        assert r["conf"]["ingest_only"] is True  # the switch flipped in the form
        summary = api.xcom(CAST.dag_id, r["dag_run_id"], "summarize")
        assert summary["date"] == r["logical_date"][:10] and summary["new_data"] is True
        assert summary["training"]["reason"].startswith("ingest_only")


def test_a_finished_run_links_to_its_lakefs_commit_and_mlflow_model(stack, page, cast_nights):
    night = cast_nights[-1]
    base = f"{stack.config.url('airflow')}/dags/{CAST.dag_id}/runs/{quote(night['run_id'], safe='')}/tasks"
    expected = {
        "publish_data": (
            L.LAKEFS_COMMIT,
            L.lakefs_commit(stack.config.url("lakefs"), CAST.repository, night["commit"]),
        ),
        night["gate"]["decision"]: (
            L.MLFLOW_MODEL,
            L.mlflow_model(stack.config.url("mlflow"), CAST.model_name, night["model"]["version"]),
        ),
    }
    for task_id, (name, url) in expected.items():
        page.goto(f"{base}/{task_id}")
        page.get_by_text("Details", exact=True).click()  # the task instance tab
        link = page.get_by_role("link", name=name, exact=True)
        link.wait_for()
        _shot(page, f"04-links-{task_id}")
        assert link.get_attribute("href") == url
