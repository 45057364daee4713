"""Render a registered version's model card in Chromium and save a screenshot (for the README).

    make up; PYTHONPATH=. .venv/bin/python scripts/model_card_screenshot.py --model pump_fleet \
        [--version 2] [--out docs/images/model-card.png]

Reads ``model_card/model_card.html`` from the version's MLflow run (the stack's admin user);
without ``--version``, the newest version.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from devstack.services import stack_from_env
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", help="registry version (default: the newest)")
    parser.add_argument("--out", default="docs/images/model-card.png")
    args = parser.parse_args()
    stack = stack_from_env()
    os.environ.update(stack.mlflow_env(admin=True))
    import mlflow
    from playwright.sync_api import sync_playwright

    client = mlflow.MlflowClient()
    version = args.version or max((v.version for v in client.search_model_versions(f"name='{args.model}'")), key=int)
    run_id = client.get_model_version(args.model, version).run_id
    with tempfile.TemporaryDirectory() as d:
        html = Path(client.download_artifacts(run_id, "model_card/model_card.html", d))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(html.as_uri())
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    print(f"{args.model} v{version}: {args.out}")


if __name__ == "__main__":
    main()
