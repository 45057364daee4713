"""The hyperparameter search space: defaults, config overrides, and the Ray Tune form."""

from __future__ import annotations

from typing import Any

# name -> (sampler, arguments); a config override is either a plain value (fixed)
# or a one-key mapping such as {"loguniform": [1e-4, 1e-2]}.
DEFAULT_SPACE: dict[str, Any] = {
    "lr": {"loguniform": [5e-4, 5e-3]},
    "width": {"choice": [16, 32, 48]},
    "depth": {"randint": [1, 4]},
    "dropout": {"uniform": [0.0, 0.3]},
    "batch_size": {"choice": [32, 64, 128]},
}
SAMPLERS = ("loguniform", "uniform", "randint", "choice")


def merged_space(overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = set(overrides) - set(DEFAULT_SPACE)
    if unknown:
        raise ValueError(
            f"tune.search_space: unknown hyperparameters {sorted(unknown)} (known: {', '.join(DEFAULT_SPACE)})"
        )
    space = {**DEFAULT_SPACE, **overrides}
    for name, spec in space.items():
        if isinstance(spec, dict) and (len(spec) != 1 or next(iter(spec)) not in SAMPLERS):
            raise ValueError(f"tune.search_space.{name}: use a value or one of {SAMPLERS}, e.g. {{'choice': [1, 2]}}")
    return space


def to_tune(space: dict[str, Any]) -> dict[str, Any]:
    from ray import tune

    out = {}
    for name, spec in space.items():
        if isinstance(spec, dict):
            kind, args = next(iter(spec.items()))
            out[name] = tune.choice(args) if kind == "choice" else getattr(tune, kind)(*args)
        else:
            out[name] = spec
    return out
