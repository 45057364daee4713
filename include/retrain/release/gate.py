"""The promotion gate: three outcomes from confidence intervals, never from point estimates alone.

With ``margin`` = ``gate.max_regression`` and the intervals of release/evidence.py:

* **reject** when the evidence is confidently bad: the candidate's upper bound is under the floor,
  or its difference to the champion (or to the pinned reference) has an upper bound under
  ``-margin``, or a configured class's recall has an upper bound under its recall floor;
* **promote** when it is confidently good: the candidate's lower bound clears the floor, every
  recall floor is cleared by the lower bound, and every difference has a lower bound above
  ``-margin`` (non-inferiority; with margin 0 the candidate must be better with confidence);
* **inconclusive** otherwise: a person decides in the Airflow UI (the ``approve`` task), and a
  timeout keeps the champion.

``force_promote`` promotes anything and says what it overrode.
"""

from __future__ import annotations

from ..handoffs import Bound, Comparison, Evidence, GateDecision

# Below this many held-out units a bootstrap has few distinct resamples: said in the reason line.
FEW_UNITS = 10
_NAMES = {"holdout_macro_f1": "macro-F1", "holdout_accuracy": "accuracy"}


def metric_name(metric: str) -> str:
    return _NAMES.get(metric, metric)


def _ci(b: Bound, signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(b['value'])} [{f.format(b['low'])}, {f.format(b['high'])}]"


def comparison_line(c: Comparison, metric: str, confidence: float) -> str:
    """e.g. "Δ macro-F1 vs champion v3 +0.012, 95% CI [-0.006, +0.031], McNemar p=0.21"."""
    d = c["difference"]
    return (
        f"Δ {metric_name(metric)} vs {c['role']} v{c['version']} {d['value']:+.3f}, {confidence:.0%} CI "
        f"[{d['low']:+.3f}, {d['high']:+.3f}], McNemar p={c['mcnemar_p']:.2g} on "
        f"{c['candidate_only'] + c['other_only']} samples where they disagree"
    )


def evidence_line(ev: Evidence) -> str:
    """The numbers of the evidence in one line (the task log, the run note, the version's tags)."""
    parts = [f"{metric_name(ev['metric'])} {_ci(ev['candidate'])}"]
    parts += [comparison_line(c, ev["metric"], ev["confidence"]) for c in ev["against"]]
    rough = " -- few units: the intervals are rough" if ev["units"] < FEW_UNITS else ""
    parts.append(f"{ev['samples']} samples from {ev['units']} held-out units ({ev['unit']}){rough}")
    return "; ".join(parts)


def decide(
    evidence: Evidence,
    floor: float,
    margin: float,
    recall_floors: dict[str, float] | None = None,
    force_promote: bool = False,
    compared_with: str | None = None,
    evaluated_at: str | None = None,
) -> GateDecision:
    """Decide on a candidate from its evidence (see the module docstring for the rule)."""
    name, conf = metric_name(evidence["metric"]), f"{evidence['confidence']:.0%}"
    cand = evidence["candidate"]
    bad: list[str] = []  # confidently bad
    open_: list[str] = []  # not confidently good
    if cand["high"] < floor:
        bad.append(f"{name} {_ci(cand)} is below the floor {floor:.3f} with {conf} confidence")
    elif cand["low"] < floor:
        open_.append(f"{name} {_ci(cand)} may be below the floor {floor:.3f}")
    for c in evidence["against"]:
        d, who = c["difference"], f"the {c['role']} v{c['version']}"
        if d["high"] < -margin:
            bad.append(f"worse than {who} by more than {margin:.3f} with {conf} confidence (Δ {_ci(d, True)})")
        elif d["low"] <= -margin:
            what = f"within {margin:.3f} of" if margin > 0 else "better than"  # margin 0: better, with confidence
            open_.append(f"not shown to be {what} {who} (Δ {_ci(d, True)})")
    for label, minimum in (recall_floors or {}).items():
        r = evidence["recall"].get(label)
        if r is None:
            bad.append(f"recall of '{label}' missing from the evaluation")
        elif r["high"] < minimum:
            bad.append(f"recall of '{label}' {_ci(r)} is below its floor {minimum:.3f} with {conf} confidence")
        elif r["low"] < minimum:
            open_.append(f"recall of '{label}' {_ci(r)} may be below its floor {minimum:.3f}")
    numbers = evidence_line(evidence)
    if bad:
        outcome, why = "reject", "; ".join(bad)
    elif open_:
        outcome, why = "inconclusive", "; ".join(open_) + " -- a person decides"
    else:
        near = f"within {margin:.3f} of" if margin > 0 else "better than"
        against = " and ".join(f"{near} the {c['role']}" for c in evidence["against"])
        floors = " and the recall floors" if recall_floors else ""
        why = f"clears the floor {floor:.3f}{floors}" + (f" and is {against}" if against else " (first model)")
        outcome, why = "promote", why + f" with {conf} confidence"
    forced = force_promote and outcome != "promote"
    reason = f"{outcome.upper()}: {why}. Evidence: {numbers}"
    if forced:
        why = why.removesuffix(" -- a person decides")
        reason = f"PROMOTE forced by force_promote, overriding {outcome.upper()}: {why}. Evidence: {numbers}"
    return {
        "promote": outcome == "promote" or forced,
        "decision": "promote" if forced else outcome,  # type: ignore[typeddict-item]
        "reason": reason,
        "forced": forced,
        "compared_with": compared_with,
        "evaluated_at": evaluated_at,
        "evidence": evidence,
        "decided_by": "force_promote" if forced else "gate",
    }
