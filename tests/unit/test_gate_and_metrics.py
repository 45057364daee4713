import numpy as np
import pytest

from include.retrain import summary
from include.retrain.ml import metrics
from include.retrain.release.gate import decide


def _evidence(value, low, high, against=(), recall=None, metric="holdout_accuracy"):
    """Evidence with the given candidate interval; ``against``: (role, version, diff, low, high)."""
    return {
        "metric": metric,
        "confidence": 0.95,
        "resamples": 2000,
        "samples": 400,
        "units": 40,
        "unit": "machine",
        "candidate": {"value": value, "low": low, "high": high},
        "recall": recall or {},
        "against": [
            {
                "role": role,
                "version": version,
                "value": value - d,
                "difference": {"value": d, "low": lo, "high": hi},
                "mcnemar_p": 0.21,
                "candidate_only": 12,
                "other_only": 9,
            }
            for role, version, d, lo, hi in against
        ],
    }


def test_first_model_needs_only_the_floor_with_confidence():
    d = decide(_evidence(0.95, 0.92, 0.97), floor=0.9, margin=0.02)
    assert d["promote"] and d["decision"] == "promote" and "(first model)" in d["reason"]
    assert d["decided_by"] == "gate"


def test_below_the_floor_with_confidence_is_rejected_with_the_numbers():
    d = decide(_evidence(0.85, 0.80, 0.88), floor=0.9, margin=0.02)
    assert not d["promote"] and d["decision"] == "reject"
    assert d["reason"].startswith("REJECT: accuracy 0.850 [0.800, 0.880] is below the floor 0.900 with 95% confidence")
    assert "400 samples from 40 held-out units (machine)" in d["reason"]


def test_an_interval_across_the_floor_is_inconclusive():
    d = decide(_evidence(0.91, 0.87, 0.94), floor=0.9, margin=0.02)
    assert not d["promote"] and d["decision"] == "inconclusive" and "a person decides" in d["reason"]


def test_worse_than_the_champion_by_more_than_the_margin_with_confidence_is_rejected():
    d = decide(_evidence(0.93, 0.91, 0.95, [("champion", "3", -0.05, -0.08, -0.03)]), 0.9, 0.02)
    assert d["decision"] == "reject" and "worse than the champion v3 by more than 0.020" in d["reason"]
    assert "Δ accuracy vs champion v3 -0.050, 95% CI [-0.080, -0.030], McNemar p=0.21" in d["reason"]


def test_non_inferior_with_confidence_is_promoted_and_a_wide_difference_is_inconclusive():
    assert decide(_evidence(0.95, 0.93, 0.97, [("champion", "3", 0.01, -0.015, 0.03)]), 0.9, 0.02)["promote"]
    d = decide(_evidence(0.95, 0.93, 0.97, [("champion", "3", 0.01, -0.04, 0.05)]), 0.9, 0.02)
    assert d["decision"] == "inconclusive" and "not shown to be within 0.020 of the champion v3" in d["reason"]


def test_margin_zero_asks_for_better_with_confidence():
    same = decide(_evidence(0.95, 0.93, 0.97, [("champion", "3", 0.0, 0.0, 0.0)]), 0.9, 0.0)
    assert same["decision"] == "inconclusive" and "not shown to be better than the champion v3" in same["reason"]
    assert decide(_evidence(0.95, 0.93, 0.97, [("champion", "3", 0.02, 0.005, 0.04)]), 0.9, 0.0)["promote"]


def test_the_pinned_reference_stops_a_ratchet():
    """Within the margin of the champion, but confidently worse than the reference: rejected."""
    ev = _evidence(
        0.93, 0.92, 0.94, [("champion", "7", -0.01, -0.015, -0.005), ("reference", "2", -0.06, -0.08, -0.04)]
    )
    d = decide(ev, 0.9, 0.02)
    assert d["decision"] == "reject" and "worse than the reference v2" in d["reason"]


def test_force_promote_overrides_and_says_so():
    d = decide(_evidence(0.5, 0.4, 0.6), 0.9, 0.0, force_promote=True)
    assert d["promote"] and d["forced"] and d["decided_by"] == "force_promote"
    assert d["reason"].startswith("PROMOTE forced by force_promote, overriding REJECT")


def test_recall_floors_reject_with_confidence_and_ask_when_unsure():
    recall = {
        "bearing_fault": {"value": 0.2, "low": 0.0, "high": 0.4},
        "misalignment": {"value": 0.8, "low": 0.6, "high": 0.95},
    }
    d = decide(_evidence(0.95, 0.93, 0.97, recall=recall), 0.9, 0.02, recall_floors={"bearing_fault": 0.5})
    assert (
        d["decision"] == "reject" and "recall of 'bearing_fault' 0.200 [0.000, 0.400] is below its floor" in d["reason"]
    )
    d = decide(_evidence(0.95, 0.93, 0.97, recall=recall), 0.9, 0.02, recall_floors={"misalignment": 0.7})
    assert d["decision"] == "inconclusive"
    d = decide(_evidence(0.95, 0.93, 0.97, recall=recall), 0.9, 0.02, recall_floors={"crack": 0.7})
    assert d["decision"] == "reject" and "recall of 'crack' missing" in d["reason"]


def test_a_persons_answer_or_the_timeout_decides_an_inconclusive_gate():
    from include.retrain.steps import approval_outcome

    gated = decide(_evidence(0.91, 0.87, 0.94), floor=0.9, margin=0.02)
    yes = approval_outcome(gated, {"chosen_options": ["Promote"], "responded_by_user": {"id": "1", "name": "ana"}})
    assert yes["promote"] and yes["decision"] == "promote" and yes["decided_by"] == "ana in the Airflow UI"
    assert yes["reason"].startswith("PROMOTE by ana in the Airflow UI, on inconclusive evidence. Gate: INCONCLUSIVE")
    no = approval_outcome(gated, {"chosen_options": ["Reject"], "responded_by_user": {"id": "2", "name": "bo"}})
    assert not no["promote"] and no["decided_by"] == "bo in the Airflow UI"
    timeout = approval_outcome(gated, {"chosen_options": ["Reject"], "responded_by_user": None})
    assert timeout["decision"] == "reject" and timeout["decided_by"].startswith("timeout")
    decided = decide(_evidence(0.95, 0.93, 0.97), 0.9, 0.02)
    assert approval_outcome(decided, None) == decided


def test_the_reference_moves_only_on_evidence_or_a_persons_approval():
    from include.retrain.release.registry import reference_move

    within = decide(_evidence(0.95, 0.93, 0.97, [("champion", "3", -0.005, -0.015, 0.01)]), 0.9, 0.02)
    assert within["promote"] and reference_move(within, "3") is None  # within the margin: pinned
    better = decide(_evidence(0.97, 0.95, 0.99, [("champion", "3", 0.03, 0.01, 0.05)]), 0.9, 0.02)
    assert "better than the reference v3 with confidence" in reference_move(better, "3")
    assert reference_move(within, None) is not None
    assert reference_move({**within, "decided_by": "ana in the Airflow UI"}, "3") == "approved by ana in the Airflow UI"


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
    """90/5/5 holdout from 100 images: always answering the majority class scores accuracy 0.90."""
    from include.retrain.release.evidence import gate_evidence

    labels = ["normal", "bearing_fault", "imbalance"]
    y = np.array([0] * 90 + [1] * 5 + [2] * 5)
    pred, units = np.zeros_like(y), np.arange(len(y))
    acc = gate_evidence("holdout_accuracy", y, pred, units, labels, [], "image")
    assert acc["candidate"]["value"] == pytest.approx(0.90)
    assert decide(acc, 0.8, 0.0)["promote"]  # what accuracy lets through
    f1 = gate_evidence("holdout_macro_f1", y, pred, units, labels, [], "image")
    d = decide(f1, 0.8, 0.0)
    assert d["decision"] == "reject" and d["reason"].startswith("REJECT: macro-F1 0.316 [")
    d = decide(acc, 0.8, 0.0, recall_floors={"bearing_fault": 0.5})
    assert d["decision"] == "reject" and "recall of 'bearing_fault' 0.000 [0.000, 0.000]" in d["reason"]


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


def test_the_model_card_renders_every_section_as_markdown_and_html():
    from include.retrain.release import card
    from include.retrain.release.gate import decide

    ev = _evidence(
        0.95,
        0.93,
        0.97,
        [("champion", "3", 0.01, -0.005, 0.03)],
        recall={"ok": {"value": 0.9, "low": 0.8, "high": 0.97}},
    )
    decision = decide(ev, 0.9, 0.02) | {"decided_by": "ana in the Airflow UI"}
    facts = {
        "model": "cast_metal",
        "version": "4",
        "decision": decision,
        "dataset": "cast_metal",
        "modality": "image",
        "repository": "cast-metal",
        "commit": "c" * 64,
        "validation": "10 files checked, 1 refused (1 quarantined), 0 already on main",
        "drift": "none (max PSI 0.010 <= 0.2)",
        "changes": {"added": 10, "changed": 0, "removed": 1, "since": "a" * 64},
        "training": {
            "split": "by image",
            "trials": 4,
            "trial_errors": 0,
            "best_val_macro_f1": 0.96,
            "best_val_accuracy": 0.97,
            "best_config": {"lr": 0.001},
        },
        "labels": ["ok", "crack"],
        "samples": {"train": {"ok": 70, "crack": 7}, "val": {"ok": 15, "crack": 2}, "holdout": {"ok": 15, "crack": 2}},
        "champion_train": {"ok": 60, "crack": 6},
        "evidence": ev,
        "conf": "95%",
        "metric_label": "accuracy",
        "scores": {"holdout_accuracy": 0.95},
        "confusion": [[15, 0], [1, 1]],
        "floor": 0.9,
        "margin": 0.02,
        "recall_floors": {},
        "budget": {"max_epochs": 30, "patience": 5, "class_weights": "balanced"},
        "cost": {
            "stages": {"train": 100.0, "evaluate": 20.0},
            "total_seconds": 120.0,
            "trial_cpu_seconds": 80.0,
            "trial_gpu_seconds": 0.0,
        },
        "links": {"MLflow run": "http://mlflow/run"},
    }
    text, html = card.render(facts)
    assert text.startswith("# Model card: cast_metal v4\n") and "decided by ana in the Airflow UI" in text
    for section in ("## Data", "## Metrics on the holdout", "## Gate evidence", "## Training", "## Cost", "## Lineage"):
        assert section in text
    assert "10 files added, 0 changed, 1 removed" in text and "| crack | 7 | 2 | 2 | 6 |" in text
    assert (
        "<table>" in html and "<h2>Gate evidence</h2>" in html and '<a href="http://mlflow/run">MLflow run</a>' in html
    )
    assert "| **total** | **120.0** |" in text
