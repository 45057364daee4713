# ruff: noqa: E501  (the card template has long Markdown lines)
"""The model card of a candidate: one Markdown text (Jinja2), and the same as a standalone HTML page
(markdown-it), both logged to the candidate's MLflow run under ``model_card/``.

Rendered by the gate (decision pending when a person has to decide) and again by ``promote`` /
``reject`` with the final decision, who took it and the registered version.
"""

from __future__ import annotations

from typing import Any

ARTIFACT_DIR = "model_card"
MARKDOWN, HTML = "model_card.md", "model_card.html"

_TEMPLATE = """\
# Model card: {{ model }}{% if version %} v{{ version }}{% else %} (candidate){% endif %}

**Decision: {{ decision.decision | upper }}** -- decided by {{ decision.decided_by }}.
{{ decision.reason }}

## Data
- dataset `{{ dataset }}` ({{ modality }}), lakeFS `{{ repository }}@{{ commit[:12] }}`
- validation of this night: {{ validation }}
- drift of data the champion had not seen: {{ drift }}
{%- if changes %}
- since the champion's data ({{ changes.since[:12] }}): {{ changes.added }} files added, {{ changes.changed }} changed, \
{{ changes.removed }} removed
{%- endif %}
- split: {{ training.split }}

| class | train | val | holdout |{% if champion_train %} champion's train |{% endif %}
|---|---:|---:|---:|{% if champion_train %}---:|{% endif %}
{% for label in labels -%}
| {{ label }} | {{ samples.train[label] }} | {{ samples.val[label] }} | {{ samples.holdout[label] }} |\
{% if champion_train %} {{ champion_train.get(label, "?") }} |{% endif %}
{% endfor %}
## Metrics on the holdout ({{ evidence.samples }} samples from {{ evidence.units }} units: {{ evidence.unit }})
| metric | value | {{ conf }} interval |
|---|---:|---:|
| {{ metric_label }} | {{ "%.4f" | format(evidence.candidate.value) }} | \
[{{ "%.4f" | format(evidence.candidate.low) }}, {{ "%.4f" | format(evidence.candidate.high) }}] |
| accuracy | {{ "%.4f" | format(scores.holdout_accuracy) }} | |
{% for label, r in evidence.recall.items() -%}
| recall of {{ label }} | {{ "%.4f" | format(r.value) }} | [{{ "%.4f" | format(r.low) }}, {{ "%.4f" | format(r.high) }}] |
{% endfor %}
Confusion matrix (rows: true class, columns: predicted):

| true \\\\ predicted |{% for label in labels %} {{ label }} |{% endfor %}
|---|{% for label in labels %}---:|{% endfor %}
{% for row in confusion -%}
| {{ labels[loop.index0] }} |{% for n in row %} {{ n }} |{% endfor %}
{% endfor %}
## Gate evidence
- floor {{ floor }}, margin {{ margin }}{% if recall_floors %}, recall floors {{ recall_floors }}{% endif %}
{%- for c in evidence.against %}
- against the {{ c.role }} v{{ c.version }} ({{ "%.4f" | format(c.value) }}): difference {{ "%+.4f" | format(c.difference.value) }}, \
{{ conf }} CI [{{ "%+.4f" | format(c.difference.low) }}, {{ "%+.4f" | format(c.difference.high) }}]; \
McNemar p = {{ "%.3g" | format(c.mcnemar_p) }} ({{ c.candidate_only }} samples only the candidate gets right, \
{{ c.other_only }} only the {{ c.role }})
{%- else %}
- no champion yet: the floor alone decides
{%- endfor %}
- intervals: bootstrap of whole held-out units, {{ evidence.resamples }} resamples

## Training
- {{ training.trials }} trials ({{ training.trial_errors }} failed), best validation {{ metric_label }} \
{{ "%.4f" | format(training.best_val_macro_f1 if metric_label == "macro-F1" else training.best_val_accuracy) }}
- budget: max_epochs {{ budget.max_epochs }}, patience {{ budget.patience }}, class weights {{ budget.class_weights }}
- best hyperparameters: {% for k, v in training.best_config.items() %}`{{ k }}={{ v }}`{% if not loop.last %}, {% endif %}{% endfor %}

## Cost
{% if cost.stages -%}
| stage | seconds |
|---|---:|
{% for stage, s in cost.stages.items() -%}
| {{ stage }} | {{ "%.1f" | format(s) }} |
{% endfor -%}
| **total** | **{{ "%.1f" | format(cost.total_seconds) }}** |
{%- else -%}
Stage seconds unknown: Airflow's API could not be read when the gate ran.
{%- endif %}

Trials: {{ "%.1f" | format(cost.trial_cpu_seconds) }} CPU-seconds, {{ "%.1f" | format(cost.trial_gpu_seconds) }} GPU-seconds.

## Lineage
{% for name, url in links.items() -%}
- [{{ name }}]({{ url }})
{% endfor %}"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; color: #1d2733; }}
h1 {{ border-bottom: 2px solid #2b6cb0; padding-bottom: .3rem; }}
h2 {{ margin-top: 2rem; color: #2b6cb0; }}
table {{ border-collapse: collapse; margin: .5rem 0; }}
th, td {{ border: 1px solid #cbd5e0; padding: .25rem .6rem; }}
th {{ background: #edf2f7; }}
code {{ background: #edf2f7; padding: 0 .2rem; }}
p:first-of-type strong {{ font-size: 1.15rem; }}
</style></head><body>
{body}
</body></html>
"""


def render(facts: dict[str, Any]) -> tuple[str, str]:
    """(Markdown, HTML) of the card from ``facts`` (see steps.model_card for the keys)."""
    import jinja2
    from markdown_it import MarkdownIt

    env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    text = env.from_string(_TEMPLATE).render(**facts)
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    title = f"Model card: {facts['model']}"
    return text, _PAGE.format(title=title, body=body)
