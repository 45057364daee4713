"""DAG parse cost beyond ``import airflow.sdk``, per DAG file, in fresh interpreters.

.venv/bin/python bench/parse_cost.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "ray", "mlflow", "great_expectations", "lakefs", "pandas", "sklearn")
PROBE = f"""
import json, runpy, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
if sys.argv[1] != "-":
    runpy.run_path(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({{"sdk": t1 - t0, "file": t2 - t1, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def probe(path: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, path], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    baseline = statistics.median(probe("-")["sdk"] for _ in range(args.repeat))
    print(f"baseline: import airflow.sdk = {baseline:.3f}s (median of {args.repeat})")
    for dag_file in sorted((ROOT / "dags").glob("*.py")):
        runs = [probe(str(dag_file)) for _ in range(args.repeat)]
        extra = statistics.median(r["file"] for r in runs)
        heavy = sorted({m for r in runs for m in r["heavy"]})
        goal = "ok" if extra <= 0.15 and not heavy else "OVER GOAL"
        print(
            f"{dag_file.name:<24} +{extra:.3f}s beyond the baseline ({extra / baseline:.2f}x of it); "
            f"heavy modules: {heavy or 'none'}  [goal <= 0.15s, none: {goal}]"
        )


if __name__ == "__main__":
    main()
