"""A person decides the close calls in the real Airflow UI; nobody answering keeps the champion.

``pump_approval`` gates with margin 0 (tests/conftest.py): a candidate must be better than the
champion with confidence to be promoted on its own, so a candidate as good as the champion is
inconclusive and its run opens the ``approve`` task (Human-in-the-loop). Three such runs at once:
the browser approves the first that asks and rejects the second; the third times out after 2
minutes. The order is the one the runs ask in: waiting for a given run would let another's
timeout run out meanwhile.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from devstack import nightly
from include.retrain import config
from tests.e2e.browser import logged_in_page, shot
from tests.e2e.conftest import FAST, champion_of, nights

DS = config.get("pump_approval")
FIRST, LATER = "2026-10-01", ["2026-10-02", "2026-10-03", "2026-10-04"]
SETTLE_SECONDS = 20


@pytest.fixture(scope="module")
def first_night(stack):
    (s,) = nights(stack, DS, [FIRST], rows_per_segment=384)
    return s


def _next_approval(api: Any, run_ids: list[str], timeout: float = 900) -> str:
    """The first of ``run_ids`` whose ``approve`` task waits for a person."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run_id in run_ids:
            states = {t["task_id"]: t["state"] for t in api.task_instances(DS.dag_id, run_id)}
            if states.get("approve") == "awaiting_input":
                # Airflow 3.3 race: an answer given while the executor has not yet reported the
                # paused process's end gets the task failed and retried, and the retry asks again
                # (seen in CI: answered 6 s after the form opened, the executor's report came 5 s
                # after the pause). A person takes longer; the test waits as long.
                time.sleep(SETTLE_SECONDS)
                return run_id
            assert states.get("gate") != "success" or states.get("approve") != "skipped", (
                f"the gate decided on its own: {api.xcom(DS.dag_id, run_id, 'gate')['reason']}"
            )
            assert "failed" not in states.values(), states
        time.sleep(2)
    raise AssertionError(f"none of {run_ids} asked for approval")


def _answer_in_the_ui(stack: Any, pg: Any, run_id: str, option: str, name: str) -> None:
    url = f"{stack.config.url('airflow')}/dags/{DS.dag_id}/runs/{quote(run_id, safe='')}/tasks/approve/required_actions"
    pg.goto(url)
    pg.get_by_text("could not decide this candidate with confidence").first.wait_for()
    body = pg.locator("body").inner_text()
    assert "Evidence:" in body and "McNemar" in body and "Model card" in body, body[:2000]
    shot(pg, f"{name}-1-form")
    pg.get_by_role("button", name=option, exact=True).click()
    pg.wait_for_timeout(1500)
    shot(pg, f"{name}-2-answered")


def test_inconclusive_gates_ask_a_person_who_approves_or_rejects_and_a_timeout_keeps_the_champion(
    stack, first_night, mlflow_client
):
    assert first_night["gate"]["decision"] == "promote"  # the first model: the floor alone
    v1 = first_night["model"]["version"]
    api = stack.airflow_api()
    waiting = []
    for date in LATER:
        nightly.seed(stack, DS, date, rows_per_segment=384)
        waiting.append(api.trigger(DS.dag_id, nightly.logical_date(DS, date), conf=FAST)["dag_run_id"])
    runs = {}
    with logged_in_page(stack, DS.dag_id) as pg:
        for who, option in (("approved", "Promote"), ("refused", "Reject")):
            runs[who] = _next_approval(api, waiting)
            waiting.remove(runs[who])
            _answer_in_the_ui(stack, pg, runs[who], option, f"approval-{who}")
    (runs["timeout"],) = waiting
    summaries = {}
    for who, run_id in runs.items():
        run = api.wait_for_run(DS.dag_id, run_id, timeout=600)
        assert run["state"] == "success", (who, run)
        summaries[who] = api.xcom(DS.dag_id, run_id, "summarize")
    approved, refused, timeout = (
        summaries["approved"]["gate"],
        summaries["refused"]["gate"],
        summaries["timeout"]["gate"],
    )
    user = stack.creds.airflow_username
    assert approved["decision"] == "promote" and approved["decided_by"] == f"{user} in the Airflow UI", approved
    assert approved["reason"].startswith(
        f"PROMOTE by {user} in the Airflow UI, on inconclusive evidence. Gate: INCONCLUSIVE"
    )
    assert refused["decision"] == "reject" and refused["decided_by"] == f"{user} in the Airflow UI", refused
    assert timeout["decision"] == "reject" and timeout["decided_by"].startswith("timeout"), timeout
    # the approved version is champion and the new pinned reference; the others are challengers only
    version = summaries["approved"]["model"]["version"]
    assert champion_of(mlflow_client, DS).version == version != v1
    assert mlflow_client.get_model_version_by_alias(DS.model_name, "reference").version == version
    tags = mlflow_client.get_model_version(DS.model_name, summaries["refused"]["model"]["version"]).tags
    assert tags["gate.decision"] == "reject" and tags["gate.decided_by"] == f"{user} in the Airflow UI"
    # every run's note says who decided; the model card and the cost are on the candidate's run
    for who, run_id in runs.items():
        note = api.request("GET", f"dags/{DS.dag_id}/dagRuns/{quote(run_id, safe='')}").json()["note"]
        assert "- gate: " in note and (" by " in note), (who, note)
        s = summaries[who]
        assert s["cost"]["total_seconds"] > 0 and {"train", "evaluate", "ingest"} <= set(s["cost"]["stages"])
        run = mlflow_client.get_run(s["training"]["mlflow_run_id"])
        assert run.data.metrics["cost_total_seconds"] == pytest.approx(s["cost"]["total_seconds"])
        trials = mlflow_client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
        assert trials and all(t.data.metrics["cost_cpu_seconds"] > 0 for t in trials)  # each trial's own
        assert sum(t.data.metrics["cost_cpu_seconds"] for t in trials) == pytest.approx(
            run.data.metrics["cost_trial_cpu_seconds"], abs=0.5
        )
        card = mlflow_client.download_artifacts(run.info.run_id, "model_card/model_card.md")
        text = Path(card).read_text()
        assert f"v{s['model']['version']}" in text and s["gate"]["decided_by"] in text
        assert "## Gate evidence" in text and "McNemar" in text and "## Cost" in text
