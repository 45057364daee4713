"""The run summary: one typed dict for XCom and the console, and markdown for the DAG-run note."""

from __future__ import annotations

from . import urls
from .handoffs import (
    COST_STAGES,
    SPLITS,
    Drift,
    Evaluation,
    GateDecision,
    Published,
    PublishedModel,
    RayJob,
    RunSummary,
    TrainResult,
    Validated,
)
from .release import gate

REFUSED_SHOWN = 25  # refused files listed with their reasons in the summary (all are in the report)


def build(
    *,
    dag_id: str,
    run_id: str,
    date: str,
    published: Published | None,
    validated: Validated | None,
    drift: Drift | None,
    skipped_reason: str | None,
    training: RayJob[TrainResult] | None,
    evaluation: Evaluation | None,
    gated: GateDecision | None,
    model: PublishedModel | None,
    links: dict[str, str],
) -> RunSummary:
    out: RunSummary = {"dag_id": dag_id, "run_id": run_id, "date": date}
    if drift is not None:
        out["drift"] = {
            "detected": bool(drift.get("drift_detected")),
            "drifted": drift.get("drifted", []),
            "unseen_files": drift.get("unseen_files", 0),
            "psi": {name: f["psi"] for name, f in drift.get("features", {}).items()},
            "threshold": drift.get("threshold"),
        }
    if published:
        out["commit"], out["new_data"] = published["commit"], published["new_data"]
        out["repository"] = published["repository"]
    if validated:
        keys = ("passed", "files_total", "files_bad", "report", "batch_warnings")
        out["validation"] = {k: validated.get(k) for k in keys}
        out["validation"]["quarantined"] = validated.get("quarantined", [])
        files = validated.get("files") or []
        out["validation"]["rows_in"] = sum(f["rows"] for f in files if f["ok"])
        out["validation"]["rows_refused"] = sum(f["rows"] for f in files if not f["ok"])
        # why each file was refused, for the cockpit's timeline (the full list is the run's report)
        out["validation"]["refused"] = [{"path": f["path"], "reasons": f["reasons"][:3]} for f in files if not f["ok"]][
            :REFUSED_SHOWN
        ]
        kept = validated.get("quarantine")
        if kept:
            out["validation"]["kept_on"] = f"{kept['branch']}@{kept['ref'][:12]}"
    if skipped_reason:
        out["training"] = {"skipped": True, "reason": skipped_reason}
    elif training:
        result = training["result"]
        out["training"] = {
            "trials": result.get("trials"),
            "trial_errors": result.get("trial_errors"),
            "best_config": result.get("best_config"),
            "mlflow_run_id": result.get("run_id"),
            "ray_submission_id": training.get("submission_id"),
            "split": result.get("split"),
            "samples": result.get("samples"),
        }
    if evaluation:
        out["metrics"] = {k: v for k, v in evaluation["scores"].items() if k.startswith(("holdout_", "champ"))}
    if gated:
        out["gate"] = gated
        if gated.get("cost"):
            out["cost"] = gated["cost"]
        if gated.get("card_url"):
            links = {**links, urls.MODEL_CARD: gated["card_url"]}
    if model:
        out["model"] = model
    out["links"] = links
    return out


def facts(s: RunSummary) -> list[tuple[str, str]]:
    """(label, text) pairs of a run summary, shared by the DAG-run note and the console."""
    out = []
    if "commit" in s:
        new = "" if s.get("new_data") else "  (nothing new: no commit)"
        out.append(("data", f"{s['repository']}@{s['commit'][:12]}{new}"))
    v = s.get("validation") or {}
    if v.get("files_total"):
        out.append(
            (
                "validation",
                f"{'passed' if v['passed'] else 'FAILED'} -- {v['files_total']} files, "
                f"{v['files_bad']} bad, {len(v.get('quarantined', []))} quarantined"
                + (f" (kept on {v['kept_on']})" if v.get("kept_on") else "")
                + f"; report {v['report']}"
                + "".join(f"; WARNING {w}" for w in v.get("batch_warnings") or []),
            )
        )
    d = s.get("drift")
    if d and d.get("unseen_files"):
        worst = max(d["psi"].values(), default=0.0)
        status = f"DETECTED in {', '.join(d['drifted'])}" if d["detected"] else "none"
        out.append(("drift", f"{status} (max PSI {worst:.3f}, {d['unseen_files']} files the champion has not seen)"))
    t = s.get("training") or {}
    if t.get("skipped"):
        out.append(("training", f"skipped ({t['reason']})"))
    elif t:
        out.append(("training", f"{t['trials']} trials ({t['trial_errors']} errors), best {t['best_config']}"))
        if t.get("split"):
            samples = t.get("samples") or {}
            sizes = ", ".join(f"{name} {sum(samples[name].values())}" for name in SPLITS if name in samples)
            out.append(("split", f"{t['split']}: {sizes}"))
    m = s.get("metrics") or {}
    if m:
        champ = m.get("champion_holdout_macro_f1")
        out.append(
            (
                "metrics",
                f"holdout_macro_f1 {m['holdout_macro_f1']:.4f}, holdout_accuracy {m['holdout_accuracy']:.4f}"
                + (
                    f"; champion macro-F1 {champ:.4f}, accuracy {m['champion_holdout_accuracy']:.4f}"
                    if champ is not None
                    else ""
                ),
            )
        )
        labels = [k.removeprefix("holdout_recall_") for k in m if k.startswith("holdout_recall_")]
        recalls = [
            f"{lab} {m[f'holdout_recall_{lab}']:.2f} (n={int(m.get(f'holdout_support_{lab}', 0))})" for lab in labels
        ]
        if recalls:
            out.append(("recall", ", ".join(recalls)))
    g = s.get("gate")
    if g:
        # the reason starts with the outcome (and who decided), then its numbers: those get a line of their own
        why = g["reason"].split(". Evidence: ")[0]
        out.append(("gate", why if why.startswith(g["decision"].upper()) else f"{g['decision'].upper()} -- {why}"))
        ev = g.get("evidence")
        if ev:
            out.append(("evidence", gate.evidence_line(ev)))
    c = s.get("cost")
    if c:
        # in the order of the flow (a JSON round trip through XCom may reorder the keys)
        stages = ", ".join(f"{k} {c['stages'][k]:.0f}" for k in COST_STAGES if k in c["stages"])
        total = f"{c['total_seconds']:.0f} s ({stages})" if stages else "stage seconds unknown (Airflow API unreadable)"
        out.append(("cost", f"{total}; trials {c['trial_cpu_seconds']:.0f} CPU-s, {c['trial_gpu_seconds']:.0f} GPU-s"))
    mo = s.get("model")
    if mo:
        out.append(("model", f"{mo['name']} v{mo['version']} @{' @'.join(mo['aliases'])}"))
    return out


# Airflow keeps at most this many characters of a DAG-run note (DagRunNote.content, and the API's
# max_length): a longer PATCH is refused and the run would have no note at all.
NOTE_MAX_CHARS = 1000
# Facts left out of a note that would be too long, first to last (the console keeps them all).
NOTE_OPTIONAL = ("recall", "split", "cost", "drift", "training")


def note(summary: RunSummary) -> str:
    """Markdown for the Airflow DAG-run note, at most ``NOTE_MAX_CHARS`` long."""
    head = f"**{summary['dag_id']}** for dt={summary['date']}"
    pairs = [(label, text if len(text) <= 240 else text[:239] + "…") for label, text in facts(summary)]
    links = [f"- [{name}]({url})" for name, url in summary.get("links", {}).items()]

    def render() -> str:
        return "\n".join([head, *(f"- {label}: {text}" for label, text in pairs), *links])

    for optional in NOTE_OPTIONAL:
        if len(render()) <= NOTE_MAX_CHARS:
            break
        pairs = [(label, text) for label, text in pairs if label != optional]
    text = render()
    return text if len(text) <= NOTE_MAX_CHARS else text[: NOTE_MAX_CHARS - 1] + "…"


def console(summary: RunSummary) -> list[str]:
    """The summary as aligned console lines (``make run``)."""
    pairs = [*facts(summary), *summary.get("links", {}).items()]
    return [f"  {label + ':':<15}{text}" for label, text in pairs]


def run_links(
    lakefs_ui: str,
    mlflow_ui: str,
    published: Published | None,
    model: PublishedModel | None,
    training: TrainResult | None,
) -> dict[str, str]:
    """The run's links into the lakeFS and MLflow UIs (the commit, the candidate run, the version)."""
    out = {}
    if published:
        out[urls.LAKEFS_COMMIT] = urls.lakefs_commit(lakefs_ui, published["repository"], published["commit"])
    if training:
        out[urls.MLFLOW_RUN] = urls.mlflow_run(mlflow_ui, training["experiment_id"], training["run_id"])
    if model:
        out["MLflow model"] = urls.mlflow_model(mlflow_ui, model["name"], model["version"])
    return out
