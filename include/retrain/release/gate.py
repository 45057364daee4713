"""The promotion gate: an absolute floor, no regression against the champion, optional recall floors."""

from __future__ import annotations

from ..handoffs import GateDecision, Scores


def decide(
    metric: str,
    scores: Scores,
    floor: float,
    max_regression: float,
    force_promote: bool = False,
    compared_with: str | None = None,
    evaluated_at: str | None = None,
    recall_floors: dict[str, float] | None = None,
) -> GateDecision:
    """Decide on a candidate from its holdout ``scores`` (which hold ``champion_<metric>`` when a champion exists).

    Passes when ``metric >= floor`` and ``metric >= champion - max_regression``; a first model
    needs only the floor. ``recall_floors`` ({label: minimum}) also require the holdout recall
    ``holdout_recall_<label>`` of those labels. ``force_promote`` promotes anyway and says so.
    """
    if metric not in scores:
        raise ValueError(f"gate metric '{metric}' missing from the evaluation (have: {', '.join(sorted(scores))})")
    value = float(scores[metric])
    champion = scores.get(f"champion_{metric}")
    failures = []
    if value < floor:
        failures.append(f"{metric} {value:.4f} < floor {floor:.4f}")
    if champion is not None and value < float(champion) - max_regression:
        failures.append(
            f"{metric} {value:.4f} regresses more than {max_regression:.4f} below the champion's {float(champion):.4f}"
        )
    for label, minimum in (recall_floors or {}).items():
        recall = scores.get(f"holdout_recall_{label}")
        if recall is None:
            failures.append(f"recall of '{label}' missing from the evaluation")
        elif float(recall) < minimum:
            failures.append(f"recall of '{label}' {float(recall):.4f} < its floor {minimum:.4f}")
    promote, forced = not failures or force_promote, bool(failures) and force_promote
    if not failures:
        against = (
            f" and within {max_regression:.4f} of the champion's {float(champion):.4f}"
            if champion is not None
            else " (first model: floor only)"
        )
        floors = f"; recall floors met ({', '.join(recall_floors)})" if recall_floors else ""
        reason = f"{metric} {value:.4f} >= floor {floor:.4f}{against}{floors}"
    elif force_promote:
        reason = "forced by force_promote, overriding: " + "; ".join(failures)
    else:
        reason = "; ".join(failures)
    return {
        "promote": promote,
        "decision": "promote" if promote else "reject",
        "reason": reason,
        "forced": forced,
        "compared_with": compared_with,
        "evaluated_at": evaluated_at,
    }
