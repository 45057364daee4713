"""The nightly sensor retraining, end to end through the scheduler of the session stack.

Runs in file order: two nights build a champion (the second meets the first), then a bad batch,
a rerun and a deliberately worse candidate must each leave it alone.
"""

from __future__ import annotations

import email
import json
import socketserver
import threading
import time
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
import requests

from devstack import nightly
from include.retrain import config
from include.retrain import urls as L
from include.retrain.lake import lakefs_io
from include.retrain.ml import derived, splits
from tests.e2e.browser import logged_in_page, shot
from tests.e2e.conftest import FAST, assert_lineage, champion_of, main_head, nights, repository, run_date

DATES = ["2026-11-01", "2026-11-02"]
DS = config.get("pump_fleet")


@pytest.fixture(scope="module")
def repo(clt):
    return repository(clt, DS)


@pytest.fixture(scope="module")
def nights_run(stack):
    return nights(stack, DS, DATES, rows_per_segment=384)


def test_nights_run_give_an_accurate_champion_with_real_lineage(stack, nights_run, clt, repo, mlflow_client):
    for s in nights_run:
        assert s["new_data"] is True
        assert s["validation"]["passed"] and s["validation"]["files_total"] == 24
        assert s["training"]["trials"] == FAST["num_samples"]
    champion = champion_of(mlflow_client, DS)
    assert champion.version == nights_run[-1]["model"]["version"]
    run = mlflow_client.get_run(champion.run_id)
    assert run.data.metrics["holdout_accuracy"] >= 0.9
    assert run.data.metrics["holdout_macro_f1"] >= 0.9
    assert "champion_holdout_accuracy" in run.data.metrics  # night 2 met night 1's champion
    assert {f"holdout_recall_{label}" for label in DS.sensor.labels} <= set(run.data.metrics)
    assert "evaluation/confusion_matrix.png" in [
        a.path for a in mlflow_client.list_artifacts(run.info.run_id, "evaluation")
    ]
    children = mlflow_client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert len(children) == FAST["num_samples"]  # every trial is a child run
    assert_lineage(nights_run, DS, repo, mlflow_client)
    # the data of both nights is on main, the run branches are gone, the split plan is recorded
    paths = {p for p, _, _ in lakefs_io.list_paths(clt, DS.repository, "main", "data/")}
    assert {f"data/dt={d}/pump-001.parquet" for d in DATES} <= paths
    # and each night's windows were cut once, by its own training, and kept on their own branch
    assert [b.id for b in repo.branches()] == ["main", derived.DERIVED_BRANCH, splits.SPLIT_BRANCH]
    shards = lakefs_io.list_paths(clt, DS.repository, derived.DERIVED_BRANCH, derived.DERIVED_PREFIX)
    assert {p.split("/")[1] for p, _, _ in shards if p.endswith(derived.DONE)} == {f"dt={d}" for d in DATES}
    plan = splits.read_record(clt, DS.repository)
    assert plan is not None and plan.decided_at == nights_run[0]["commit"]  # decided by night 1, kept
    assert nights_run[-1]["training"]["split"] == plan.describe()
    # an evaluation ends within the operator's defer_after: no round trip through the triggerer,
    # and its job's log is in the task log all the same
    log = stack.airflow_api().task_log(DS.dag_id, nights_run[-1]["run_id"], "evaluate", 1)
    assert "no deferral" in log and "holdout of" in log and "RETRAIN_RESULT" in log, log[-3000:]
    assert f"{len(DATES)} night(s) read from their derived shard, 0 cut from their files" in log, log[-3000:]


def test_task_links_open_the_lakefs_commit_and_mlflow_run_of_the_run(stack, nights_run, mlflow_client):
    s, api = nights_run[-1], stack.airflow_api()
    lake, mlf = stack.config.url("lakefs"), stack.config.url("mlflow")
    run = s["run_id"]
    branch = lakefs_io.run_branch_name(DS.dag_id, run)
    experiment = mlflow_client.get_run(s["training"]["mlflow_run_id"]).info.experiment_id
    mlflow_run = L.mlflow_run(mlf, experiment, s["training"]["mlflow_run_id"])
    report = f"{lakefs_io.report_prefix(DS.dag_id, run)}/validation.json"
    expected = {
        "ingest": {
            L.LAKEFS_BRANCH: L.lakefs_branch(lake, DS.repository, branch),
            L.LAKEFS_DIFF: L.lakefs_diff(lake, DS.repository, branch),
        },
        "validate": {
            L.LAKEFS_BRANCH: L.lakefs_branch(lake, DS.repository, branch),
            L.LAKEFS_DIFF: L.lakefs_diff(lake, DS.repository, branch),
            L.VALIDATION_REPORT: L.lakefs_object(lake, DS.repository, "main", report),
        },
        "publish_data": {L.LAKEFS_COMMIT: L.lakefs_commit(lake, DS.repository, s["commit"])},
        "train": {L.LAKEFS_COMMIT: L.lakefs_commit(lake, DS.repository, s["commit"]), L.MLFLOW_RUN: mlflow_run},
        "evaluate": {L.MLFLOW_RUN: mlflow_run},
        "promote": {
            L.MLFLOW_MODEL: L.mlflow_model(mlf, DS.model_name, s["model"]["version"]),
            L.LAKEFS_COMMIT: L.lakefs_commit(lake, DS.repository, s["commit"]),
            L.MODEL_CARD: s["links"][L.MODEL_CARD],
        },
    }
    for task_id, links in expected.items():
        assert api.links(DS.dag_id, run, task_id) == links, task_id
    assert expected["promote"][L.MLFLOW_MODEL].startswith(f"{mlf}/#/models/{DS.model_name}/versions/")
    assert expected["publish_data"][L.LAKEFS_COMMIT] == f"{lake}/repositories/{DS.repository}/commits/{s['commit']}"
    # the targets exist: the commit in lakeFS and the run in MLflow
    c = stack.creds
    got = requests.get(
        f"{lake}/api/v1/repositories/{DS.repository}/commits/{s['commit']}",
        auth=(c.lakefs_access_key_id, c.lakefs_secret_access_key),
        timeout=10,
    )
    assert got.status_code == 200 and got.json()["id"] == s["commit"]


@pytest.fixture
def alert_webhook(stack):
    """A real HTTP listener registered as the ``retrain_alerts`` connection; yields what it received."""
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = stack.airflow_api()
    api.upsert(
        "connections",
        "connection_id",
        {
            "connection_id": "retrain_alerts",
            "conn_type": "http",
            "host": f"http://127.0.0.1:{server.server_port}/alert",
        },
    )
    yield received
    api.request("DELETE", "connections/retrain_alerts", ok=(204, 404))
    server.shutdown()


@pytest.fixture
def alert_mailbox(stack):
    """A plain SMTP listener (no TLS, no auth) registered as ``retrain_alerts_smtp``; yields the mails."""
    received: list[str] = []

    class Smtp(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"220 localhost ESMTP\r\n")
            data, lines = False, []
            while line := self.rfile.readline():
                if data:
                    if line.rstrip(b"\r\n") == b".":
                        received.append(b"".join(lines).decode(errors="replace"))
                        data, lines = False, []
                        self.wfile.write(b"250 queued\r\n")
                    else:
                        lines.append(line)
                    continue
                verb = line[:4].upper()
                if verb == b"EHLO":
                    self.wfile.write(b"250-localhost\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    data = True
                    self.wfile.write(b"354 end with .\r\n")
                elif verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Smtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = stack.airflow_api()
    extra = {"disable_ssl": True, "disable_tls": True, "from_email": "retrain@localhost", "to": "oncall@example.com"}
    api.upsert(
        "connections",
        "connection_id",
        {
            "connection_id": "retrain_alerts_smtp",
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": server.server_address[1],
            "extra": json.dumps(extra),
        },
    )
    yield received
    api.request("DELETE", "connections/retrain_alerts_smtp", ok=(204, 404))
    server.shutdown()


def test_bad_batch_fails_at_validation_and_leaves_main_and_champion(
    stack, nights_run, clt, repo, mlflow_client, alert_webhook, alert_mailbox
):
    head, champion = main_head(repo), champion_of(mlflow_client, DS).version
    date = "2026-11-04"
    nightly.seed(
        stack, DS, date, assets=3, rows_per_segment=384, bad=["nan", "dead", "range", "schema", "label", "truncated"]
    )
    run, _ = run_date(stack, DS, date)
    assert run["state"] == "failed"
    states = {t["task_id"]: t["state"] for t in stack.airflow_api().task_instances(DS.dag_id, run["dag_run_id"])}
    assert states["validate"] == "failed" and states["publish_data"] == "upstream_failed"
    assert main_head(repo) == head
    assert champion_of(mlflow_client, DS).version == champion
    branch = lakefs_io.run_branch_name(DS.dag_id, run["dag_run_id"])
    assert branch in {b.id for b in repo.branches()}, "the failed branch is kept for inspection"
    path = f"{lakefs_io.report_prefix(DS.dag_id, run['dag_run_id'])}/validation.json"
    report = json.loads(lakefs_io.read_bytes(clt, DS.repository, branch, path))
    assert report["passed"] is False and report["files_bad"] == 6
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reasons"] for f in report["files"] if not f["ok"]}
    assert set(reasons) == {f"bad-{k}.parquet" for k in ("nan", "dead", "range", "schema", "label", "truncated")}
    assert reasons["bad-dead.parquet"][0].startswith("dead sensor")
    assert reasons["bad-schema.parquet"][0].startswith("missing columns ['motor_current']")
    report_link = stack.airflow_api().links(DS.dag_id, run["dag_run_id"], "validate")[L.VALIDATION_REPORT]
    assert report_link == L.lakefs_object(stack.config.url("lakefs"), DS.repository, branch, path)
    log = stack.airflow_api().task_log(DS.dag_id, run["dag_run_id"], "validate", 1)
    assert "bad-truncated.parquet" in log and "main is untouched" in log
    assert states["validate"] == "failed" and "RETRAIN ALERT" in log  # the failure notifier, no retry
    alerts = [a for a in alert_webhook if a["run_id"] == run["dag_run_id"] and a["kind"] == "failure"]
    assert len(alerts) == 1 and alerts[0]["task_id"] == "validate" and alerts[0]["dataset"] == DS.name
    assert "validation failed" in alerts[0]["reason"] and alerts[0]["link"].endswith("/tasks/validate")
    mails = [email.message_from_string(m) for m in alert_mailbox]
    (mail,) = [m for m in mails if "failed at validate" in str(make_header(decode_header(m["Subject"])))]
    assert mail["To"] == "oncall@example.com"  # the same alert, by mail through the SMTP provider
    body = "".join(p.get_payload(decode=True).decode() for p in mail.walk() if not p.is_multipart())
    assert run["dag_run_id"] in body and "bad-truncated.parquet" in body


def test_rerun_of_a_date_makes_no_commit_and_no_version(stack, nights_run, repo, mlflow_client):
    head = main_head(repo)
    versions = len(mlflow_client.search_model_versions(f"name='{DS.model_name}'"))
    run, summary = run_date(stack, DS, DATES[-1])  # clears and reruns the existing run
    assert run["state"] == "success"
    assert summary["new_data"] is False and summary["commit"] == head
    assert summary["training"]["skipped"] is True
    assert main_head(repo) == head
    assert len(mlflow_client.search_model_versions(f"name='{DS.model_name}'")) == versions
    # the champion was trained on main's head and nothing new landed: nothing to do after ingest
    assert champion_of(mlflow_client, DS).tags["lakefs.commit"] == head
    assert summary["training"]["reason"].startswith("nothing new merged, no drift")
    assert summary["drift"]["detected"] is False and summary["drift"]["unseen_files"] == 0
    states = {t["task_id"]: t["state"] for t in stack.airflow_api().task_instances(DS.dag_id, run["dag_run_id"])}
    ran = {task for task, state in states.items() if state == "success"}
    assert ran == {"ingest", "summarize"}, states
    # its cost is what ran in this try, not the durations the skipped tasks keep from the cleared one
    assert set(summary["cost"]["stages"]) == {"ingest"}, summary["cost"]
    assert lakefs_io.run_branch_name(DS.dag_id, run["dag_run_id"]) not in [b.id for b in repo.branches()]
    # ingest's link opens main, not the deleted run branch, and there is no diff to link (no URL)
    assert stack.airflow_api().links(DS.dag_id, run["dag_run_id"], "ingest") == {
        L.LAKEFS_BRANCH: L.lakefs_branch(stack.config.url("lakefs"), DS.repository, "main"),
        L.LAKEFS_DIFF: None,
    }


def test_worse_candidate_is_challenger_but_not_champion(stack, nights_run, repo, mlflow_client, alert_webhook):
    champion = champion_of(mlflow_client, DS).version
    date = "2026-11-05"
    nightly.seed(stack, DS, date, rows_per_segment=384)
    run, summary = run_date(stack, DS, date, {"train_label_noise": 0.7})
    assert run["state"] == "success"
    assert summary["gate"]["decision"] == "reject"
    reason = summary["gate"]["reason"]
    assert reason.startswith("REJECT: ") and ("below the floor" in reason or "worse than the champion" in reason)
    assert "with 95% confidence" in reason and "held-out units" in reason
    version = summary["model"]["version"]
    assert mlflow_client.get_model_version_by_alias(DS.model_name, "challenger").version == version
    assert champion_of(mlflow_client, DS).version == champion
    tags = mlflow_client.get_model_version(DS.model_name, version).tags
    assert tags["gate.decision"] == "reject" and tags["gate.reason"] == summary["gate"]["reason"]
    path = f"dags/{DS.dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}"
    note = stack.airflow_api().request("GET", path).json()["note"]
    assert "- gate: REJECT" in note and f"v{version}" in note
    # The run took longer than the test stack's 30 s deadline: Airflow's DeadlineAlert fired our
    # callback in the triggerer, which posted to the webhook (the run itself is not stopped).
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not [a for a in alert_webhook if a["run_id"] == run["dag_run_id"]]:
        time.sleep(2)
    (alert,) = [a for a in alert_webhook if a["run_id"] == run["dag_run_id"]]
    assert alert["kind"] == "deadline" and alert["dag_id"] == DS.dag_id and alert["dataset"] == DS.name
    assert "exceeded its 0.5 min deadline" in alert["summary"]
    assert alert["link"].endswith(f"/dags/{DS.dag_id}/runs/{quote(run['dag_run_id'], safe='')}")


def test_drift_in_unseen_data_triggers_a_retrain_without_new_data(stack, nights_run, repo, mlflow_client):
    date = "2026-11-06"
    nightly.seed(stack, DS, date, rows_per_segment=384, drift=1.0)  # vibration gain x2, bearings +8 C
    run, summary = run_date(stack, DS, date, {"ingest_only": True})
    assert run["state"] == "success" and summary["new_data"] is True
    assert summary["training"]["reason"].startswith("ingest_only")
    versions = len(mlflow_client.search_model_versions(f"name='{DS.model_name}'"))
    run, summary = run_date(stack, DS, DATES[-1])  # a night with nothing new...
    assert run["state"] == "success" and summary["new_data"] is False
    assert summary["drift"]["detected"] is True  # ...but main holds drifted data the champion never saw
    assert "temperature" in summary["drift"]["drifted"]  # bearings +8 C: the clearest shift
    assert "skipped" not in summary["training"] and summary["model"]
    assert len(mlflow_client.search_model_versions(f"name='{DS.model_name}'")) == versions + 1
    drift_runs = mlflow_client.search_runs(
        [mlflow_client.get_experiment_by_name(DS.experiment).experiment_id],
        "tags.role = 'drift' and metrics.drift_detected = 1",
    )
    assert drift_runs and drift_runs[0].data.metrics["drift_psi_temperature"] > 0.2


def test_the_retraining_cockpit_shows_these_nights_behind_the_airflow_login(stack, nights_run, mlflow_client):
    """After the nights above (two good ones, a refused batch, a rerun, a worse candidate, a drifted
    night): the cockpit's view in the Airflow UI agrees with what each run recorded."""
    base = stack.config.url("airflow")
    url = f"{base}/retraining/api/datasets/{DS.name}"
    assert requests.get(url, timeout=30).status_code == 401  # no Airflow login, no cockpit
    assert requests.get(url, headers={"Authorization": "Bearer forged"}, timeout=30).status_code in (401, 403)
    api = stack.airflow_api()
    resp = requests.get(url, headers={"Authorization": f"Bearer {api.token()}"}, timeout=120)
    assert resp.status_code == 200, resp.text[:500]
    view = resp.json()
    assert "airflow=" in resp.headers["X-Retraining-API-Calls"]
    newest = sorted(api.runs(DS.dag_id), key=lambda r: r["logical_date"], reverse=True)[:30]  # the page's window
    runs = {r["dag_run_id"]: r for r in newest}
    nights = {n["run_id"]: n for n in view["nights"]}
    assert set(nights) == set(runs) and all(n["state"] == runs[r]["state"] for r, n in nights.items())
    # the refused batch: its files and reasons come from the report lakeFS keeps on the run branch
    (bad,) = [n for n in nights.values() if "validate" in n["failed_tasks"]]
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reasons"] for f in bad["refused"]}
    assert bad["files_bad"] == 6 and reasons["bad-dead.parquet"][0].startswith("dead sensor")
    assert bad["links"][L.VALIDATION_REPORT].startswith(stack.config.url("lakefs"))
    # every finished night shows what its run recorded: commit, gate evidence, decision, version
    decisions = set()
    for run_id, n in nights.items():
        if n["state"] != "success":
            continue
        s = api.xcom(DS.dag_id, run_id, "summarize")
        assert n["commit"] == s.get("commit") and n["links"][L.LAKEFS_COMMIT] == s["links"][L.LAKEFS_COMMIT]
        if s.get("gate"):
            assert n["metric"] == s["gate"]["evidence"]["candidate"] and n["version"] == s["model"]["version"]
            assert n["links"][L.MODEL_CARD] == s["gate"]["card_url"] and n["reason"] == s["gate"]["reason"]
            decisions.add(n["decision"])
    assert {"promote", "reject"} <= decisions  # the good nights, the worse candidate
    assert all(n["cost"]["total_seconds"] > 0 for n in nights.values() if n["state"] == "success")  # trained or not
    drifted = [n for n in view["nights"] if n["drift"].get("detected") and n["decision"]]  # retrained on drift
    assert drifted and drifted[-1]["drift"]["psi"]["temperature"] > view["drift_threshold"]
    assert view["champion"]["version"] == champion_of(mlflow_client, DS).version
    # a second look at the same nights reads only what can change (finished runs are cached)
    again = requests.get(url, headers={"Authorization": f"Bearer {api.token()}"}, timeout=120)
    calls = dict(kv.split("=") for kv in again.headers["X-Retraining-API-Calls"].split(", "))
    assert int(calls["cached"]) >= len(nights) and int(calls["airflow"]) <= 4, calls

    with logged_in_page(stack, DS.dag_id) as pg:
        pg.get_by_role("link", name="Retraining").first.click()  # the UI's own navigation
        pg.wait_for_url("**/plugin/retraining")
        frame = pg.frame_locator("iframe")
        frame.locator(f'tr[data-dataset="{DS.name}"]').wait_for()
        shot(pg, "cockpit-1-overview")
        frame.get_by_role("link", name=DS.name, exact=True).click()
        timeline = frame.locator("#timeline tr.night")
        timeline.first.wait_for()
        assert timeline.count() == len(nights)
        drift_chart = frame.locator("#chart-drift svg").inner_html()
        assert "temperature" in drift_chart and f"threshold {view['drift_threshold']:g}" in drift_chart
        assert "floor" in frame.locator("#chart-metric svg").inner_html()
        row = frame.locator(f'tr[data-run-id="{drifted[-1]["run_id"]}"]')
        row.locator("details.gate summary").click()
        assert "Evidence:" in row.inner_text() and "CI" in row.inner_text()
        shot(pg, "cockpit-2-dataset")
        # the links leave the frame for the service they name: the failed night's Airflow run
        frame.locator(f'tr[data-run-id="{bad["run_id"]}"]').get_by_role("link", name="Airflow run").click()
        pg.wait_for_url(f"**/dags/{DS.dag_id}/runs/**")
        assert quote(bad["run_id"], safe="") in pg.url or bad["run_id"] in pg.url
        # the page by itself (what the README shows)
        pg.goto(f"{base}/retraining/datasets/{DS.name}")
        pg.locator("#timeline").wait_for()
        shot(pg, "cockpit-3-dataset-page")
