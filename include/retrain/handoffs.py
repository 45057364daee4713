"""What the tasks of a retrain run hand each other through XCom, as typed dictionaries.

TypedDicts, not dataclasses: a task result stays plain JSON in XCom, so the UI's XCom tab, the
REST API and the Jinja templates of the Ray job commands (``jobs/submission.py``) read it as it is,
while mypy checks every key the steps read or write. The Jinja templates use the same field
names (``commit`` of :class:`Published`, ``result.run_id`` of a :class:`RayJob`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypedDict, TypeVar

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


# Holdout metrics by their MLflow names: holdout_accuracy, holdout_macro_f1, holdout_recall_<label>,
# holdout_support_<label> (samples of the label), and champion_holdout_accuracy /
# champion_holdout_macro_f1 when a champion exists.
Scores = dict[str, float]


class Evaluation(TypedDict):
    """What the evaluation job prints: candidate and champion on the same holdout."""

    run_id: str  # the candidate's MLflow run
    experiment_id: str
    holdout_samples: int
    misclassified: int
    champion_version: str | None
    evaluated_at: str  # when the champion was looked up and scored (ISO, UTC)
    scores: Scores


class RayJob(TypedDict, Generic[T]):
    """A Ray job task (``train``, ``evaluate``): the submission and the job's printed result."""

    submission_id: str
    status: str
    action: str  # submitted | reattached | reused
    result: T


class GateDecision(TypedDict):
    """``gate``: the decision names the next task (``promote`` or ``reject``)."""

    promote: bool
    decision: Literal["promote", "reject"]
    reason: str
    forced: bool
    compared_with: str | None  # the champion version the evidence compares against (None: first model)
    evaluated_at: str | None  # when that evidence was computed (ISO, UTC)


class PublishedModel(TypedDict):
    """``promote`` / ``reject``: the registered version and the aliases it holds."""

    name: str
    commit: str
    version: str
    aliases: list[str]
    previous_champion: str | None


class RunResults(TypedDict):
    """What ``summarize`` receives: every task's result (None for a task that did not run, but a
    skipped task may still hold the result of a cleared earlier try)."""

    published: Published | None
    validated: Validated | None
    drift: Drift | None
    decision: TrainingDecision | None
    training: RayJob[TrainResult] | None
    evaluation: RayJob[Evaluation] | None
    gated: GateDecision | None
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
