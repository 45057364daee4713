"""Screenshots of the Retraining cockpit inside the Airflow UI, signed in (for the README).

    make up; PYTHONPATH=. .venv/bin/python scripts/cockpit_screenshot.py --dataset pump_fleet \
        [--out docs/images]

Saves ``cockpit-overview.png`` (the overview, in the Airflow UI) and ``cockpit-dataset.png`` (the
dataset's page by itself: the charts and the newest nights of its timeline).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from devstack.services import stack_from_env
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS

CLIP = {"x": 0, "y": 0, "width": 1400, "height": 2600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="pump_fleet")
    parser.add_argument("--out", default="docs/images", type=Path)
    args = parser.parse_args()
    stack = stack_from_env()
    from playwright.sync_api import sync_playwright

    base = stack.config.url("airflow")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        page.goto(f"{base}/")
        page.locator("input[name=username]").fill(stack.creds.airflow_username)
        page.locator("input[name=password]").fill(stack.creds.airflow_password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Retraining").first.click()
        page.frame_locator("iframe").locator("#overview tbody tr").first.wait_for()
        page.screenshot(path=str(args.out / "cockpit-overview.png"))
        page.goto(f"{base}/retraining/datasets/{args.dataset}")
        page.locator("#timeline").wait_for()
        # the charts and the newest nights of the timeline
        page.screenshot(path=str(args.out / "cockpit-dataset.png"), full_page=True, clip=CLIP)
        browser.close()
    print(f"{args.out}/cockpit-overview.png, {args.out}/cockpit-dataset.png")


if __name__ == "__main__":
    main()
