"""Command line of the local stack: ``python -m devstack {up,down,status,run,smoke,reproduce}``."""

from __future__ import annotations

import argparse
import sys

from .airflow_api import AirflowAPIError
from .services import StackError, stack_from_env
from .stack_config import PORTS, StackConfigError


def main(argv: list[str] | None = None) -> int:
    ports = "\n".join(f"  {var:<30} {default:<6} {what}" for var, default, what in PORTS.values())
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Run the local retraining platform: lakeFS, MLflow, S3 landing (moto), Ray, Airflow.",
        epilog=f"State, logs and credentials live in RETRAIN_STATE_DIR (default .local/).\nPorts:\n{ports}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start every service that is not running and wait until healthy")
    sub.add_parser("down", help="stop every service of this stack (by process group)")
    sub.add_parser("status", help="show each service's state and URL; exit 1 unless all are healthy")
    run = sub.add_parser("run", help="seed sample data and run the nightly retraining for a few dates")
    run.add_argument("--datasets", nargs="+", metavar="NAME", help="entries of include/datasets.yaml (default: all)")
    run.add_argument("--dates", nargs="+", metavar="YYYY-MM-DD", help="partitions to run (default: last 3 days)")
    smoke = sub.add_parser("smoke", help="run the platform smoke DAG (one object through every service)")
    smoke.add_argument("--date", help="partition date YYYY-MM-DD (default: today, UTC)")
    repro = sub.add_parser("reproduce", help="reproduce a registered model with DVC (dvc.yaml) and compare metrics")
    repro.add_argument("--model", required=True, help="registered model name, e.g. pump_fleet")
    repro.add_argument("--version", required=True, help="model version number")
    args = parser.parse_args(argv)

    try:
        stack = stack_from_env()
        if args.command == "up":
            stack.up()
        elif args.command == "down":
            stack.down()
        elif args.command == "status":
            stack.print_status()
            return 0 if stack.is_up() else 1
        elif args.command in ("run", "smoke", "reproduce"):
            if not stack.is_up():
                print("error: the stack is not up; run `make up` first", file=sys.stderr)
                return 2
            if args.command == "reproduce":
                from include.retrain.ml.reproduce import reproduce

                return reproduce(stack.repro_env(), args.model, args.version, stack.config.root)
            if args.command == "smoke":
                from .smoke import run_smoke

                return run_smoke(stack, args.date)
            from .nightly import run_nightly

            return run_nightly(stack, args.datasets, args.dates)
    except (StackConfigError, StackError, AirflowAPIError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
