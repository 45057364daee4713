"""What the tasks of a retrain run hand each other through XCom, as typed dictionaries.

TypedDicts, not dataclasses: a task result stays plain JSON in XCom, so the UI's XCom tab, the
REST API and the Jinja templates of the Ray job commands (``jobs/submission.py``) read it as it is,
while mypy checks every key the steps read or write. The Jinja templates use the same field
names (``commit`` of :class:`Published`, ``result.run_id`` of a :class:`RayJob`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

T = TypeVar("T")


class Ingested(TypedDict):
    """``ingest``: what was copied from the landing partition to the run branch."""

    repository: str
    branch: str
    source_uri: str
    listed: int
    copied: int
    skipped: int  # already on main with the same ETag and size
    bytes_copied: int
    rejected: dict[str, str]  # landing key -> reason (unsafe key, oversize): never copied
    ignored: list[str]  # landing keys of export markers and sidecars (landing.ignore): never copied
    refused_before: list[str]  # landing keys an earlier run refused (same size and ETag): kept in quarantine
    copied_paths: list[str]
    restarted: bool  # the run branch of a refused earlier try was made again from main
    seconds: float
    nothing_to_do: NotRequired[NothingToDo | None]  # steps.nothing_to_do: set, the night skips to summarize


class NothingToDo(TypedDict):
    """A night with nothing to do: what its skipped tasks would have concluded."""

    published: Published  # main's head, nothing new
    drift: Drift  # nothing on main the champion has not seen
    decision: TrainingDecision  # skip, with the reason the full path gives


class FileVerdict(TypedDict):
    path: str
    rows: int
    reasons: list[str]
    ok: bool
    notes: list[str]  # what reading did to the file: rows sorted, exact duplicate rows dropped


class Quarantine(TypedDict):
    """Where a run's refused files are kept: readable, with the run's report, never on main."""

    branch: str
    ref: str  # the commit that holds them (immutable)
    report: str  # the run's validation report there
    paths: dict[str, str]  # path in the run branch -> path in quarantine


class Validated(TypedDict):
    """``validate``: the validation report (also committed as ``validation.json``) and the quarantine."""

    dataset: str
    passed: bool
    files_total: int  # files checked by this run (copied, rejected, or refused before)
    files_bad: int
    already_on_main: int  # files of the partition on main already: good files of the bad fraction
    bad_fraction: float
    max_bad_fraction: float
    batch_reasons: list[str]
    batch_warnings: list[str]  # recorded, not failing (an image label under min_class_share with class_share: warn)
    files: list[FileVerdict]
    gx_html: list[str]
    report: str  # path of validation.json in the repository, "none" when nothing was validated
    source_uri: str
    quarantined: list[str]  # paths refused by this run (removed from the run branch)
    quarantine: Quarantine | None  # where they are kept
    files_to_merge: int  # files the run branch brings into main
    examined_on_ray: NotRequired[ExaminedOnRay | None]  # None: the files were examined in the task


class ExaminedOnRay(TypedDict):
    """A run's files examined by a Ray job (``validation.spread_above_mb``): what the job did."""

    submission_id: str
    tasks: int
    nodes: int
    tasks_per_node: list[int]  # Ray tasks each node ran, most first
    seconds: float


class Published(TypedDict):
    """``publish_data``: the immutable commit everything downstream reads."""

    commit: str
    new_data: bool  # False when the run merged nothing (a rerun): then main's head
    repository: str


class FeatureDrift(TypedDict):
    ks: float
    ks_p: float
    psi: float


class Drift(TypedDict):
    """``check_drift``: data on main the champion has not seen, against its training data."""

    drift_detected: bool
    drifted: list[str]
    features: dict[str, FeatureDrift]
    threshold: float
    unseen_files: int
    reference_commit: str | None
    current_commit: str | None
    note: str


class TrainingDecision(TypedDict):
    """``decide_training``: train or not, and why."""

    train: bool
    reason: str
    champion_version: str | None


SPLITS = ("train", "val", "holdout")  # the split names, in this order everywhere
# The stages whose seconds make a night's cost, in the order of the flow (steps.run_cost, the summary).
COST_STAGES = ("ingest", "validate", "publish_data", "check_drift", "train", "evaluate")


class TrainResult(TypedDict):
    """What the training job prints as its result."""

    run_id: str
    commit: str
    experiment_id: str
    best_config: dict[str, Any]
    trials: int
    trial_errors: int
    best_val_accuracy: float
    best_val_macro_f1: float
    seconds: float
    ray_version: str
    split: str  # which unit the holdout holds out, e.g. "by machine and time block of 1 d"
    samples: dict[str, dict[str, int]]  # split -> label -> samples
    cost: dict[str, float]  # trial_seconds, trial_cpu_seconds, trial_gpu_seconds (jobs/train.trial_cost)


# Holdout metrics by their MLflow names: holdout_accuracy, holdout_macro_f1, holdout_recall_<label>,
# holdout_support_<label> (samples of the label), and champion_holdout_accuracy /
# champion_holdout_macro_f1 when a champion exists.
Scores = dict[str, float]


class Bound(TypedDict):
    """A point estimate on the whole holdout and its confidence interval (release/evidence.py)."""

    value: float
    low: float
    high: float


class Comparison(TypedDict):
    """The candidate against another version on the same holdout samples."""

    role: Literal["champion", "reference"]
    version: str
    value: float  # the other version's gate metric
    difference: Bound  # candidate - other
    mcnemar_p: float
    candidate_only: int  # samples only the candidate gets right
    other_only: int  # samples only the other version gets right


class Evidence(TypedDict):
    """What the gate decides on: intervals from a bootstrap over whole held-out units."""

    metric: str  # the gate metric, e.g. holdout_macro_f1
    confidence: float
    resamples: int
    samples: int  # held-out samples (windows or images)
    units: int  # held-out units they come from
    unit: str  # what one unit is: "machine", "machine x time block", "image"
    candidate: Bound
    recall: dict[str, Bound]  # per label, with the label's holdout support in the bound's name
    against: list[Comparison]  # the champion, and the pinned reference when it is another version


class Evaluation(TypedDict):
    """What the evaluation job prints: candidate and champion on the same holdout."""

    run_id: str  # the candidate's MLflow run
    experiment_id: str
    holdout_samples: int
    misclassified: int
    champion_version: str | None
    evaluated_at: str  # when the champion was looked up and scored (ISO, UTC)
    scores: Scores
    evidence: Evidence
    confusion: list[list[int]]  # the candidate's holdout confusion matrix, rows = true labels


class RayJob(TypedDict, Generic[T]):
    """A Ray job task (``train``, ``evaluate``): the submission and the job's printed result."""

    submission_id: str
    status: str
    action: str  # submitted | reattached | reused
    result: T


class GateDecision(TypedDict):
    """``gate``: the decision names the next task (``promote``, ``reject``, or ``approve`` for a person
    when the evidence is inconclusive); ``promote`` / ``reject`` record the final one."""

    promote: bool
    decision: Literal["promote", "reject", "inconclusive"]
    reason: str
    forced: bool
    compared_with: str | None  # the champion version the evidence compares against (None: first model)
    evaluated_at: str | None  # when that evidence was computed (ISO, UTC)
    evidence: Evidence | None
    decided_by: str  # "gate", "force_promote", "<user> in the Airflow UI", or "timeout (no answer)"
    cost: NotRequired[dict[str, Any]]  # steps.run_cost: seconds per stage, trial CPU/GPU-seconds
    card_url: NotRequired[str]  # the model card in the MLflow UI


class PublishedModel(TypedDict):
    """``promote`` / ``reject``: the registered version and the aliases it holds."""

    name: str
    commit: str
    version: str
    aliases: list[str]
    previous_champion: str | None
    decision: NotRequired[GateDecision]  # the final one: the gate's, or a person's on an inconclusive gate
    card_url: NotRequired[str]  # the model card in the MLflow UI


class Candidate(TypedDict):
    """What ``gate``, ``promote`` and ``reject`` know of the night that made the candidate."""

    published: Published
    validated: Validated | None
    drift: Drift | None
    training: RayJob[TrainResult]
    evaluation: RayJob[Evaluation]


class RunResults(TypedDict):
    """What ``summarize`` receives: every task's result (None for a task that did not run, but a
    skipped task may still hold the result of a cleared earlier try)."""

    ingested: Ingested | None
    published: Published | None
    validated: Validated | None
    drift: Drift | None
    decision: TrainingDecision | None
    training: RayJob[TrainResult] | None
    evaluation: RayJob[Evaluation] | None
    gated: GateDecision | None
    approval: dict[str, Any] | None  # the approve task's answer (adapters/approval.py)
    promoted: PublishedModel | None
    rejected: PublishedModel | None


class RunSummary(TypedDict, total=False):
    """``summarize``: the run summary (the DAG-run note and ``make run``'s console block)."""

    dag_id: str
    run_id: str
    date: str
    commit: str
    new_data: bool
    repository: str
    validation: dict[str, Any]
    drift: dict[str, Any]
    training: dict[str, Any]
    metrics: Scores
    gate: GateDecision
    cost: dict[str, Any]
    model: PublishedModel
    links: dict[str, str]


@dataclass(frozen=True)
class RunLineage:
    """The Airflow run a piece of data or a model comes from (lakeFS commit metadata, MLflow tags)."""

    dag_id: str
    run_id: str
    logical_date: str

    def commit_metadata(self) -> dict[str, str]:
        return {"airflow.dag_id": self.dag_id, "airflow.run_id": self.run_id, "airflow.logical_date": self.logical_date}

    def version_tags(self, repository: str, commit: str, git_sha: str) -> dict[str, str]:
        return {
            "lakefs.repo": repository,
            "lakefs.commit": commit,
            "airflow.dag_id": self.dag_id,
            "airflow.run_id": self.run_id,
            "git.sha": git_sha,
        }
