"""The promotion gate: an absolute floor, and no regression against the champion."""

from __future__ import annotations

from ..handoffs import GateDecision, Scores


def decide(
    metric: str, scores: Scores, floor: float, max_regression: float, force_promote: bool = False
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
    if not failures:
        against = (
            f" and within {max_regression:.4f} of the champion's {float(champion):.4f}"
            if champion is not None
            else " (first model: floor only)"
        )
        reason = f"{metric} {value:.4f} >= floor {floor:.4f}{against}"
        return {"promote": True, "decision": "promote", "reason": reason, "forced": False}
    if force_promote:
        reason = "forced by force_promote, overriding: " + "; ".join(failures)
        return {"promote": True, "decision": "promote", "reason": reason, "forced": True}
    return {"promote": False, "decision": "reject", "reason": "; ".join(failures), "forced": False}
