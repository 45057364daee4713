"""Deterministic failures must not be retried: retrying bad data only delays the alert."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowFailException

from ..config import ConfigError
from ..steps import EmptyPartition, ValidationFailed

DETERMINISTIC = (EmptyPartition, ValidationFailed, ConfigError)


@contextmanager
def fail_without_retry() -> Iterator[None]:
    """Turn the pipeline's deterministic errors into AirflowFailException (no retry)."""
    try:
        yield
    except DETERMINISTIC as exc:
        raise AirflowFailException(str(exc)) from exc
