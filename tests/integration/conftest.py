"""Helpers of the integration tests that drive the pipeline functions on datasets of their own."""

from __future__ import annotations

from typing import Any

import pytest

from include.retrain import config


@pytest.fixture(scope="module")
def endpoint(stack):
    return stack.lakefs_endpoint()


def dataset_copy(base: str, name: str, **validation: Any) -> config.DatasetConfig:
    """Entry ``base`` of datasets.yaml under another name (own repo and landing prefix)."""
    ds = config.get(base)
    return ds.model_copy(
        update={
            "name": name,
            "landing": ds.landing.model_copy(update={"prefix": name}),
            "validation": ds.validation.model_copy(update=validation),
        }
    )
