"""The ``approve`` task: a person decides an inconclusive gate in the Airflow UI (Human-in-the-loop).

The standard provider's ``HITLBranchOperator`` with two options, ``Promote`` and ``Reject``, that
lead to the tasks of those names. Its form shows the gate's evidence and the model card link. No
answer within ``gate.approval_timeout_minutes`` takes the default, ``Reject``: the champion stays.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLBranchOperator, HITLOperator
from airflow.sdk.bases.skipmixin import XCOM_SKIPMIXIN_KEY
from airflow.sdk.bases.xcom import BaseXCom

from ..steps import APPROVE, KEEP

TASK_ID = "approve"

_BODY = """\
The gate could not decide this candidate with confidence, so a person does.

{{ ti.xcom_pull(task_ids='gate')['reason'] }}

**Model card:** {{ ti.xcom_pull(task_ids='gate')['card_url'] }}

*Promote* makes it the champion; *Reject* keeps the champion (also what happens when nobody answers).
"""


def forget_earlier_answer(ti: Any) -> None:
    """Delete what an earlier try's ``approve`` left (its answer and the branch it followed).

    Clearing a run does not delete a task's XComs until that task runs again. When this try's gate
    decides on its own, ``approve`` is skipped and never runs, and the branch an earlier answer
    followed would make Airflow skip the task the gate chose now.
    """
    for key in (XCOM_SKIPMIXIN_KEY, BaseXCom.XCOM_RETURN_KEY):
        if ti.xcom_pull(task_ids=TASK_ID, key=key) is not None:
            BaseXCom.delete(key=key, task_id=TASK_ID, dag_id=ti.dag_id, run_id=ti.run_id, map_index=-1)


class ApprovalTask(HITLBranchOperator):
    """Returns who chose what (``chosen_options``, ``responded_by_user``, ``timed_out``) and branches to it."""

    def __init__(self, *, model_name: str, timeout_minutes: float, **kwargs: Any) -> None:
        super().__init__(
            subject=f"Promote the {model_name} candidate? The gate's evidence is inconclusive",
            body=_BODY,
            options=[APPROVE, KEEP],
            options_mapping={APPROVE: "promote", KEEP: "reject"},
            defaults=[KEEP],
            response_timeout=timedelta(minutes=timeout_minutes),
            **kwargs,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        answer = HITLOperator.execute_complete(self, context=context, event=event)
        user = answer.get("responded_by_user")
        chosen = [str(o) for o in answer["chosen_options"] or []]
        result = {
            "chosen_options": chosen,
            "responded_by_user": dict(user) if user else None,
            "responded_at": str(answer.get("responded_at")),
            "timed_out": bool(event.get("timedout", not user)),
        }
        who = f"{user.get('name') or user.get('id')}" if user else "nobody (timeout: the default)"
        self.log.info("%s chose %s", who, result["chosen_options"])
        # branching ends execute_complete with DownstreamTasksSkipped: push the answer first
        context["ti"].xcom_push(key=BaseXCom.XCOM_RETURN_KEY, value=result)
        branches = [self.options_mapping.get(o, o) for o in chosen]
        self.do_branch(context=context, branches_to_execute=branches)
        return result
