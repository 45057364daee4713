"""The promotion gate: an absolute floor, and no regression against the champion."""

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
) -> GateDecision:
    """Decide on a candidate from its holdout ``scores`` (which hold ``champion_<metric>`` when a champion exists).

    Passes when ``metric >= floor`` and ``metric >= champion - max_regression``; a first model
    needs only the floor. ``force_promote`` promotes anyway and says so in the reason.
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
    promote, forced = not failures or force_promote, bool(failures) and force_promote
    if not failures:
        against = (
            f" and within {max_regression:.4f} of the champion's {float(champion):.4f}"
            if champion is not None
            else " (first model: floor only)"
        )
        reason = f"{metric} {value:.4f} >= floor {floor:.4f}{against}"
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
