import numpy as np
import pytest

from include.retrain import summary
from include.retrain.ml import metrics
from include.retrain.release.gate import decide


def test_first_model_needs_only_the_floor():
    d = decide("holdout_accuracy", {"holdout_accuracy": 0.91}, floor=0.9, max_regression=0.02)
    assert d["promote"] and d["decision"] == "promote" and "first model" in d["reason"]


def test_below_the_floor_is_rejected_with_the_numbers():
    d = decide("holdout_accuracy", {"holdout_accuracy": 0.85}, floor=0.9, max_regression=0.02)
    assert not d["promote"] and d["reason"] == "holdout_accuracy 0.8500 < floor 0.9000"


def test_regression_beyond_tolerance_is_rejected():
    scores = {"holdout_accuracy": 0.93, "champion_holdout_accuracy": 0.96}
    d = decide("holdout_accuracy", scores, floor=0.9, max_regression=0.02)
    assert not d["promote"]
    assert "regresses more than 0.0200 below the champion's 0.9600" in d["reason"]


def test_small_regression_within_tolerance_passes():
    scores = {"holdout_accuracy": 0.95, "champion_holdout_accuracy": 0.96}
    assert decide("holdout_accuracy", scores, floor=0.9, max_regression=0.02)["promote"]


def test_force_promote_overrides_and_says_so():
    d = decide("holdout_accuracy", {"holdout_accuracy": 0.5}, 0.9, 0.0, force_promote=True)
    assert d["promote"] and d["forced"] and d["reason"].startswith("forced by force_promote")


def test_missing_metric_is_a_clear_error():
    with pytest.raises(ValueError, match="gate metric 'holdout_macro_f1' missing"):
        decide("holdout_macro_f1", {"holdout_accuracy": 1.0}, 0.9, 0.0)


def test_metrics_summary():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 0, 1, 0, 2, 2])
    m = metrics.summary(y, p, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["recall_b"] == 0.5 and m["recall_a"] == 1.0
    assert m["macro_f1"] == pytest.approx(np.mean([0.8, 2 / 3, 1.0]))
    assert metrics.confusion(y, p, 3)[1].tolist() == [1, 1, 0]


def test_note_reads_like_a_summary():
    s = summary.build(
        dag_id="retrain_x",
        run_id="r1",
        date="2026-11-01",
        published={"commit": "c" * 64, "new_data": True, "repository": "x"},
        validated={
            "passed": True,
            "files_total": 3,
            "files_bad": 1,
            "report": "_reports/r.json",
            "quarantined": ["data/a"],
        },
        drift=None,
        skipped_reason=None,
        training={
            "result": {
                "trials": 4,
                "trial_errors": 0,
                "best_config": {"lr": 0.001},
                "run_id": "abc",
                "experiment_id": "1",
            },
            "submission_id": "s",
        },
        evaluation={"scores": {"holdout_accuracy": 0.97, "holdout_macro_f1": 0.96}},
        gated={"decision": "promote", "reason": "ok"},
        model={"name": "x", "version": "2", "aliases": ["champion"]},
        links={"MLflow run": "http://m/run"},
    )
    note = summary.note(s)
    assert "- data: x@cccccccccccc\n" in note and "1 quarantined" in note and "- gate: PROMOTE -- ok" in note
    assert "- model: x v2 @champion" in note and "[MLflow run](http://m/run)" in note
    lines = summary.console(s)
    assert lines[0] == "  data:          x@cccccccccccc" and lines[-1] == "  MLflow run:    http://m/run"


def test_alert_payload_has_what_on_call_needs():
    from include.retrain.adapters.alerts import payload

    a = payload(
        "pump_fleet",
        "retrain_pump_fleet",
        "manual__2026-11-01T02:00:00+00:00",
        "validate",
        1,
        "AirflowFailException: dataset 'pump_fleet': validation failed\n  a.parquet: bad",
        "http://h:8080/",
    )
    assert a["summary"] == (
        "retrain_pump_fleet failed at validate (dataset pump_fleet): "
        "AirflowFailException: dataset 'pump_fleet': validation failed"
    )
    assert (
        a["link"]
        == "http://h:8080/dags/retrain_pump_fleet/runs/manual__2026-11-01T02%3A00%3A00%2B00%3A00/tasks/validate"
    )


def test_deadline_alert_names_the_run_and_its_limit():
    from include.retrain.adapters.alerts import deadline_payload

    a = deadline_payload(
        "pump_fleet", "retrain_pump_fleet", "scheduled__2026-11-01", 90, "2026-11-02T03:32:00Z", "running", "http://h/"
    )
    assert a["kind"] == "deadline" and a["task_id"] is None and a["state"] == "running"
    assert a["summary"] == (
        "retrain_pump_fleet run scheduled__2026-11-01 exceeded its 90 min deadline (dataset pump_fleet, running)"
    )
    assert a["link"] == "http://h/dags/retrain_pump_fleet/runs/scheduled__2026-11-01"


def test_reproduced_metrics_are_compared_within_the_tolerance():
    from include.retrain.ml.reproduce import compare_metrics

    lines = compare_metrics({"holdout_accuracy": 0.95, "holdout_macro_f1": 0.9}, {"holdout_accuracy": 0.93}, 0.05)
    assert lines == [
        "ok      holdout_accuracy: registered 0.9500, reproduced 0.9300",
        "DIFFERS holdout_macro_f1: registered 0.9000, reproduced missing",
    ]
    assert compare_metrics({"holdout_accuracy": 1.0}, {"holdout_accuracy": 0.9}, 0.05)[0].startswith("DIFFERS")


def test_a_majority_class_model_passes_on_accuracy_but_fails_on_macro_f1_and_recall_floors():
    """90/5/5 holdout: always answering the majority class scores accuracy 0.90."""
    from include.retrain.ml import metrics

    labels = ["normal", "bearing_fault", "imbalance"]
    y = np.array([0] * 90 + [1] * 5 + [2] * 5)
    scores = {f"holdout_{k}": v for k, v in metrics.summary(y, np.zeros_like(y), labels).items()}
    assert scores["holdout_accuracy"] == pytest.approx(0.90)
    assert decide("holdout_accuracy", scores, 0.9, 0.0)["promote"]  # what the old default let through
    d = decide("holdout_macro_f1", scores, 0.9, 0.0)
    assert not d["promote"] and d["reason"].startswith("holdout_macro_f1 0.3158 < floor 0.9000")
    d = decide("holdout_accuracy", scores, 0.9, 0.0, recall_floors={"bearing_fault": 0.5})
    assert not d["promote"] and d["reason"] == "recall of 'bearing_fault' 0.0000 < its floor 0.5000"


def test_a_failed_job_names_its_error_and_whether_a_retry_can_help(capsys):
    from include.retrain.jobs import submission
    from include.retrain.ml.splits import SplitUnfit

    def unfit() -> None:
        raise SplitUnfit("dataset 'pump': class 'x' has no holdout samples")

    with pytest.raises(SystemExit):
        submission.run_job(unfit)
    err = submission.parse_error("first line of the job\n" + capsys.readouterr().out)
    assert err == submission.JobError("dataset 'pump': class 'x' has no holdout samples", retry=False)
    traceback = (
        'starting\nTraceback (most recent call last):\n  File "x.py", line 1\nray.exceptions.RayTaskError: boom\n'
    )
    assert submission.parse_error(traceback) == submission.JobError("ray.exceptions.RayTaskError: boom", retry=True)
    assert submission.parse_error("nothing useful\n") is None


def test_a_long_summary_still_fits_airflows_note_limit():
    """Airflow refuses a DAG-run note over 1000 characters, and the run then has none."""
    labels = [f"fault_mode_{i:02d}" for i in range(12)]
    metrics = {"holdout_accuracy": 0.9, "holdout_macro_f1": 0.8}
    metrics |= {f"holdout_recall_{lab}": 0.5 for lab in labels} | {f"holdout_support_{lab}": 40.0 for lab in labels}
    s = {
        "dag_id": "retrain_x",
        "date": "2026-11-01",
        "commit": "c" * 64,
        "new_data": True,
        "repository": "x",
        "training": {
            "trials": 4,
            "trial_errors": 0,
            "best_config": {"lr": 0.001},
            "split": "by asset",
            "samples": {"train": {"a": 700}, "val": {"a": 150}, "holdout": {"a": 150}},
        },
        "metrics": metrics,
        "gate": {"decision": "reject", "reason": "holdout_macro_f1 0.8000 < floor 0.9000 " + "x" * 300},
        "links": {f"link {i}": f"http://127.0.0.1:5000/#/experiments/2/runs/{'a' * 32}" for i in range(4)},
    }
    note = summary.note(s)  # type: ignore[arg-type]
    assert len(note) <= summary.NOTE_MAX_CHARS
    assert "- gate: REJECT -- holdout_macro_f1 0.8000 < floor 0.9000" in note and "[link 3](" in note
    assert any(line.strip().startswith("recall:") for line in summary.console(s))  # type: ignore[arg-type]
