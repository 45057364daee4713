"""lakeFS enforces write-audit-publish on every dataset repository, not only the DAG's own code.

* ``main`` is a protected branch: lakeFS refuses a direct write, delete or commit on it (a merge
  is the only way in; a revert, the operator's deliberate undo, stays allowed by lakeFS).
* A Lua pre-merge hook (lakeFS actions, in lakeFS open source) refuses a merge into ``main``
  unless its metadata says ``validation.passed=true`` and names a ``validation.report`` that
  exists at the merged commit and says ``"passed": true``.

lakeFS reads a merge's actions from the merged (source) commit, and every run branch starts from
``main``: so the action file lives on ``main``, committed there before ``main`` is protected.
:func:`ensure_dataset_repository` installs both, idempotently, and repairs them when they drift.
"""

from __future__ import annotations

import logging
from typing import Any

from . import lakefs_io

log = logging.getLogger(__name__)
ACTION_PATH = "_lakefs_actions/retrain-write-audit-publish.yaml"
ACTION = """\
# Installed by the retrain DAGs (include/retrain/lake/guard.py); edited copies are replaced.
name: retrain write-audit-publish
description: main only moves by merging a run branch whose batch passed validation
on:
  pre-merge:
    branches:
      - main
hooks:
  - id: validated_merges_only
    type: lua
    properties:
      script: |
        local lakefs = require("lakefs")
        local json = require("encoding/json")
        local meta = action.commit.metadata or {}
        local hint = " (main only takes merges of validated run branches of the retrain DAGs)"
        if meta["validation.passed"] ~= "true" then
          error("refused: the merge has no validation.passed=true in its metadata" .. hint)
        end
        local report = meta["validation.report"]
        if report == nil or report == "" or report == "none" then
          error("refused: the merge names no validation.report" .. hint)
        end
        local code, body = lakefs.get_object(action.repository_id, action.source_ref, report)
        if code ~= 200 then
          error("refused: validation report " .. report .. " not found at the merged commit (" .. code .. ")" .. hint)
        end
        if json.unmarshal(body)["passed"] ~= true then
          error("refused: validation report " .. report .. " does not say passed" .. hint)
        end
"""
_READY: set[str] = set()  # repositories this process has already checked
# lakeFS caches a repository's settings for 3 s plus jitter (graveler/settings/manager.go): a new
# protection rule holds for every request only after that (the pre-merge hook holds at once).
SETTINGS_CACHE_SECONDS = 7.0


def ensure_dataset_repository(clt: Any, name: str) -> Any:
    """The dataset's repository, created if needed, with ``main`` protected and the hook installed."""
    repo = lakefs_io.ensure_repository(clt, name)
    if name not in _READY:
        _install(clt, repo)
        _READY.add(name)
    return repo


def _install(clt: Any, repo: Any) -> None:
    import lakefs_sdk
    from lakefs.exceptions import NotFoundException

    api = clt.sdk_client.repositories_api
    rules = api.get_branch_protection_rules(repo.id)
    protected = any(r.pattern == lakefs_io.MAIN for r in rules)
    main = repo.branch(lakefs_io.MAIN)
    try:
        installed = lakefs_io.read_bytes(clt, repo.id, lakefs_io.MAIN, ACTION_PATH).decode()
    except NotFoundException:
        installed = None
    if installed != ACTION:
        if protected:  # the hook changed (or was removed): lift the protection for this one commit
            api.set_branch_protection_rules(repo.id, [r for r in rules if r.pattern != lakefs_io.MAIN])
        main.object(ACTION_PATH).upload(data=ACTION.encode(), mode="wb", content_type="application/yaml")
        main.commit(message="install the write-audit-publish hook", metadata={"retrain.setup": ACTION_PATH})
        log.info("%s: installed the write-audit-publish pre-merge hook on main", repo.id)
        protected = False
        rules = api.get_branch_protection_rules(repo.id)
    if not protected:
        rules = [*rules, lakefs_sdk.BranchProtectionRule(pattern=lakefs_io.MAIN)]
        api.set_branch_protection_rules(repo.id, rules)
        log.info("%s: main is a protected branch (in force within %gs)", repo.id, SETTINGS_CACHE_SECONDS)
