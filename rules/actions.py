"""Rule actions. They only record what should happen; plugin performs it (outbox)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from business_rules.actions import BaseActions, rule_action
from business_rules.fields import FIELD_NUMERIC, FIELD_SELECT_MULTIPLE, FIELD_TEXT


@dataclass(frozen=True)
class ActionRequest:
    """One side effect a fired step asks for."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


class WorkflowActions(BaseActions):
    """The actions a workflow step may take; each call appends an ActionRequest."""

    def __init__(self) -> None:
        self.requested: list[ActionRequest] = []

    def _record(self, name: str, **params: Any) -> None:
        self.requested.append(
            ActionRequest(name, {k: v for k, v in params.items() if v is not None})
        )

    @rule_action(
        params={
            "template": FIELD_TEXT,
            "subject": FIELD_TEXT,
            "template_id": FIELD_TEXT,
            "preheader": FIELD_TEXT,
            # a list of objects, which business-rules has no type for; its nearest is a list
            # (rules.email_content checks each block)
            "blocks": FIELD_SELECT_MULTIPLE,
        }
    )
    def send_email(
        self,
        template: str,
        subject: str | None = None,
        template_id: str | None = None,
        preheader: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        self._record(
            "send_email",
            template=template,
            subject=subject,
            template_id=template_id,
            preheader=preheader,
            blocks=blocks,
        )

    @rule_action(
        params={
            "percent": FIELD_NUMERIC,
            "amount": FIELD_NUMERIC,
            "expires_in_days": FIELD_NUMERIC,
            "minimum": FIELD_NUMERIC,
        }
    )
    def create_discount(
        self, percent: float = 0, amount: float = 0, expires_in_days: float = 3, minimum: float = 0
    ) -> None:
        self._record(
            "create_discount",
            percent=percent,
            amount=amount,
            expires_in_days=expires_in_days,
            minimum=minimum,
        )

    @rule_action(params={"tag": FIELD_TEXT})
    def tag_customer(self, tag: str) -> None:
        self._record("tag_customer", tag=tag)

    @rule_action(params={"template": FIELD_TEXT, "to": FIELD_TEXT})
    def notify_staff(self, template: str = "staff_alert", to: str | None = None) -> None:
        self._record("notify_staff", template=template, to=to)
