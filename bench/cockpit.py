"""Render time of the Retraining cockpit's dataset page with N nights, and the API calls it makes.

Needs ``make up``. When the dataset's DAG has fewer than ``--nights`` runs, it seeds the missing
dates into the landing zone (drift growing over the last third, a refused file every 7th night)
and backfills them through the REST API, as the UI's Backfill does: ingest-only nights, then the
last ``--trained`` nights with a small training budget and ``force_retrain`` (every one gated).
Then it measures, on the page ``/retraining/datasets/<name>`` of the api-server:

- *never seen*: the page's own code (``pages.dataset_view`` + the charts + the HTML) run in this
  process with an empty cache against the same services: what the api-server does for nights no
  one has looked at (the api-server reads every dataset's finished nights ahead when it starts);
- *first request*: the first request of this script (after a backfill, its new nights were not
  read ahead);
- *warm*: the median of ``--repeat`` further requests (finished nights come from the cache);
- *browser*: Chromium signed in to Airflow, the page inside the UI (``/plugin/retraining``) until
  its timeline is drawn;

with the Airflow / MLflow / lakeFS calls each request made (header ``X-Retraining-API-Calls``).

    PYTHONPATH=. .venv/bin/python bench/cockpit.py [--dataset pump_fleet] [--nights 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import requests

from devstack import nightly
from devstack.services import stack_from_env
from include.retrain import config

GOAL_SECONDS = 2.0


def ensure_nights(stack, ds, nights: int, trained: int, start: str) -> None:
    api = stack.airflow_api()
    have = len(api.runs(ds.dag_id))
    if have >= nights:
        print(f"{ds.dag_id} has {have} runs: no backfill needed")
        return
    first = dt.date.fromisoformat(start)
    dates = [(first + dt.timedelta(days=i)).isoformat() for i in range(nights - have)]
    for i, date in enumerate(dates):
        drift = max(0.0, (i - len(dates) * 2 / 3) / (len(dates) / 3))  # 0 -> 1 over the last third
        bad = ["nan"] if i % 7 == 3 else []
        nightly.seed(stack, ds, date, rows_per_segment=384, drift=drift, bad=bad)
    cut = max(len(dates) - trained, 0)
    batches = [(dates[:cut], {}), (dates[cut:], {"force_retrain": True, "num_samples": 2, "max_epochs": 4})]
    api.unpause(ds.dag_id)
    for batch, conf in batches:
        if not batch:
            continue
        started = time.monotonic()
        first_run, last_run = nightly.logical_date(ds, batch[0]), nightly.logical_date(ds, batch[-1])
        backfill = api.backfill(ds.dag_id, first_run, last_run, max_active_runs=3, conf=conf)
        api.wait_for_backfill(backfill["id"], timeout=7200)
        print(
            f"backfilled {len(batch)} nights {batch[0]}..{batch[-1]} {conf or ''} in {time.monotonic() - started:.0f}s"
        )
    api.pause(ds.dag_id)


def never_seen(stack, ds, nights: int) -> tuple[float, str]:
    """The page's code with nothing cached: read the nights, draw the charts, render the HTML."""
    from include.retrain.cockpit import charts, pages, sources
    from include.retrain.lake.lakefs_io import LakeFSEndpoint

    charts.warm_up()  # Matplotlib's one-time import, done by the api-server when it starts
    env, creds, url = stack.mlflow_env(), stack.creds, stack.config.url
    calls = sources.Calls()
    src = sources.Sources(
        airflow=sources.AirflowReader(url("airflow"), stack.airflow_api().token(), calls),
        mlflow=sources.MlflowReader(
            env["MLFLOW_TRACKING_URI"], env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"], calls
        ),
        lake=sources.LakeReader(
            LakeFSEndpoint(url("lakefs"), creds.lakefs_access_key_id, creds.lakefs_secret_access_key), calls
        ),
        airflow_ui=url("airflow"),
        mlflow_ui=url("mlflow"),
    )
    started = time.perf_counter()
    view = pages.dataset_view(ds, src, nights)
    drawn = pages.charts(view)
    html = pages.render("dataset.html", root="/retraining", ds=ds, charts=drawn, **view, calls=calls, seconds=0)
    assert html.count("<svg") == 5
    took = time.perf_counter() - started
    return took, f"airflow={calls.airflow}, mlflow={calls.mlflow}, lakefs={calls.lakefs}, cached={calls.cached}"


def timed_get(session: requests.Session, url: str) -> tuple[float, str, int]:
    started = time.perf_counter()
    resp = session.get(url, timeout=120)
    resp.raise_for_status()
    return time.perf_counter() - started, resp.headers.get("X-Retraining-API-Calls", "?"), len(resp.content)


def browser_seconds(stack, ds, repeat: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS

    base = stack.config.url("airflow")
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        pg.goto(f"{base}/dags/{ds.dag_id}")
        pg.locator("input[name=username]").fill(stack.creds.airflow_username)
        pg.locator("input[name=password]").fill(stack.creds.airflow_password)
        pg.get_by_role("button", name="Sign in").click()
        pg.wait_for_url(f"**/dags/{ds.dag_id}**")
        for _ in range(repeat):
            started = time.perf_counter()
            pg.goto(f"{base}/retraining/datasets/{ds.name}")
            pg.locator("#timeline tr.night").first.wait_for()
            pg.wait_for_load_state("load")
            out.append(time.perf_counter() - started)
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="pump_fleet")
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--trained", type=int, default=6, help="of the backfilled nights, the last N train")
    parser.add_argument("--start", default="2026-06-01", help="first date to backfill (dates not run before)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    stack = stack_from_env(out=lambda _: None)
    if not stack.is_up():
        raise SystemExit("the local stack is not up: run `make up` first")
    ds = config.get(args.dataset)
    ensure_nights(stack, ds, args.nights, args.trained, args.start)
    api = stack.airflow_api()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api.token()}"
    url = f"{stack.config.url('airflow')}/retraining/datasets/{ds.name}?nights={args.nights}"
    fresh, fresh_calls = never_seen(stack, ds, args.nights)
    cold, cold_calls, size = timed_get(session, url)
    warm = [timed_get(session, url) for _ in range(args.repeat)]
    shown = session.get(url.replace("/datasets/", "/api/datasets/"), timeout=120).json()["nights"]
    print(f"dataset page of {ds.name}: {len(shown)} nights, {size / 1024:.0f} KiB of HTML with 5 inline SVG charts")
    print(f"  never seen (empty cache, page code in this process): {fresh:.2f}s  calls {fresh_calls}")
    print(f"  first request of this script: {cold:.2f}s  calls {cold_calls}")
    warm_median = statistics.median(w[0] for w in warm)
    print(f"  warm (median of {args.repeat}):             {warm_median:.2f}s  calls {warm[-1][1]}")
    in_browser = browser_seconds(stack, ds, args.repeat)
    print(f"  in Chromium, signed in (median of {args.repeat}): {statistics.median(in_browser):.2f}s until drawn")
    worst = max(fresh, cold, statistics.median(in_browser))
    verdict = "MET" if worst < GOAL_SECONDS else "NOT MET"
    print(f"render time {worst:.2f}s [goal < {GOAL_SECONDS:.0f} s for {args.nights} nights]: {verdict}")


if __name__ == "__main__":
    main()
