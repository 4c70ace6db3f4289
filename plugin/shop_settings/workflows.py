"""Each shop's workflows: the shipped definitions, overridden by saved versions."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from plugin.storage.batch import Batch
from plugin.storage.models import WorkflowConfig, utcnow
from rules.definitions import Workflow, WorkflowInvalid, parse_workflow, shipped_workflows
from rules.validation import validate_workflow

log = logging.getLogger(__name__)


# What relabelling a marketing workflow as transactional does: the words the merchant
# confirms, and those its version history keeps.
TRANSACTIONAL_CONSEQUENCE = (
    "its emails will also go to customers who never agreed to marketing email, without an "
    "unsubscribe link, outside the send window and frequency cap. Only what a customer needs "
    "about their own order or account may be transactional."
)


class RelabelNotConfirmed(Exception):
    """Saving would relabel a marketing workflow as transactional, and the merchant has not
    confirmed what that does."""

    def __init__(self, name: str, title: str):
        super().__init__(
            f"Relabelling {title!r} as transactional needs your confirmation: "
            f"{TRANSACTIONAL_CONSEQUENCE}"
        )
        self.name = name


def relabel_note(before: dict[str, Any] | None, after: dict[str, Any]) -> str | None:
    """What a version changes of the workflow's consent policy, for its history; None when
    it keeps it."""
    if before is None:
        return None  # a new workflow: nothing relabelled
    was = before.get("category", "marketing")
    now = after.get("category", "marketing")
    if was == now:
        return None
    if now == "transactional":
        return f"Relabelled transactional, confirmed: {TRANSACTIONAL_CONSEQUENCE}"
    return "Relabelled marketing: consent is checked and an unsubscribe link sent again."


@dataclass(frozen=True)
class ShopWorkflow:
    """A workflow as one shop runs it."""

    workflow: Workflow
    definition: dict[str, Any]
    enabled: bool
    version: int  # 0 = the shipped definition, never saved by the shop
    # why a saved definition no longer validates (then it is off until the merchant fixes it)
    problems: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.workflow.name


@lru_cache(maxsize=512)
def _parse_cached(canonical_json: str) -> Workflow:
    return parse_workflow(json.loads(canonical_json))


def parse_cached(definition: dict[str, Any]) -> Workflow:
    """Parse (and compile) a definition once per distinct content."""
    return _parse_cached(json.dumps(definition, sort_keys=True))


def shop_workflows(session: Session, shop_id: int) -> dict[str, ShopWorkflow]:
    """Return every workflow of the shop by name, as of its newest saved versions.

    Cached per shop and keyed by the newest saved row: one indexed lookup, and any save (by
    any process) shows at once.
    """
    # without flushing first: a batch's facts are not what this reads, and save_workflow,
    # the one writer of versions, flushes what it saves
    with session.no_autoflush:
        newest = session.execute(_NEWEST_VERSION, {"shop": shop_id}).first()
    # the database too: another database (a test's, a second install) may reuse ids
    key = (str(session.get_bind().engine.url), shop_id, tuple(newest) if newest else None)
    return _shop_workflows_cached(session, shop_id, key)


def batch_workflows(batch: Batch, shop_id: int) -> dict[str, ShopWorkflow]:
    """``shop_workflows``, looked up once per batch: a batch asks on every event and step."""
    found: dict[str, ShopWorkflow] | None = batch.workflows.get(shop_id)
    if found is None:
        found = batch.workflows[shop_id] = shop_workflows(batch.session, shop_id)
    return found


_NEWEST_VERSION = (
    select(WorkflowConfig.id, WorkflowConfig.created_at)
    .where(WorkflowConfig.shop_id == bindparam("shop"))
    .order_by(WorkflowConfig.id.desc())
    .limit(1)
)
_CACHE: dict[tuple[object, ...], dict[str, ShopWorkflow]] = {}


def _shop_workflows_cached(
    session: Session, shop_id: int, key: tuple[object, ...]
) -> dict[str, ShopWorkflow]:
    cached = _CACHE.get(key)
    if cached is None:
        if len(_CACHE) > 1024:
            _CACHE.clear()
        cached = _CACHE[key] = _load_shop_workflows(session, shop_id)
    return cached


def _load_shop_workflows(session: Session, shop_id: int) -> dict[str, ShopWorkflow]:
    result = {
        # a shipped workflow runs until the shop switches it off, unless it ships switched off
        name: ShopWorkflow(parse_cached(data), data, data.get("default_enabled", True), 0)
        for name, data in shipped_workflows().items()
    }
    with session.no_autoflush:  # as for _NEWEST_VERSION (see shop_workflows)
        rows = session.scalars(
            select(WorkflowConfig)
            .where(WorkflowConfig.shop_id == shop_id)
            .order_by(WorkflowConfig.name, WorkflowConfig.version.desc())
        ).all()
    seen: set[str] = set()
    for row in rows:
        if row.name in seen:
            continue
        seen.add(row.name)
        try:
            workflow = parse_cached(row.definition)
        except WorkflowInvalid as exc:
            # Saved before validation grew stricter. Neither crash every event for the
            # shop nor fall back silently to the default: keep it off, say why.
            shipped = result.get(row.name)
            log.warning("shop %s: saved %s v%s is invalid: %s", shop_id, row.name, row.version, exc)
            if shipped is not None:
                result[row.name] = ShopWorkflow(
                    shipped.workflow, row.definition, False, row.version, tuple(exc.errors)
                )
            continue
        result[row.name] = ShopWorkflow(workflow, row.definition, row.enabled, row.version)
    return result


def save_workflow(
    session: Session,
    shop_id: int,
    definition: dict[str, Any],
    enabled: bool | None = None,
    *,
    confirm_transactional: bool = False,
) -> ShopWorkflow:
    """Validate and store ``definition`` as the shop's next version of that workflow.

    Relabelling a marketing workflow as transactional drops its consent check and its
    unsubscribe link: it raises ``RelabelNotConfirmed`` unless ``confirm_transactional``,
    and the version records that it was confirmed.
    """
    errors = validate_workflow(definition)
    if errors:
        raise WorkflowInvalid(errors)
    name = definition["name"]
    current = shop_workflows(session, shop_id).get(name)
    note = relabel_note(current.definition if current else None, definition)
    if (
        current is not None
        and definition.get("category") == "transactional"
        and current.definition.get("category", "marketing") != "transactional"
        and not confirm_transactional
    ):
        raise RelabelNotConfirmed(name, current.workflow.title)
    latest = session.scalar(
        select(func.max(WorkflowConfig.version)).where(
            WorkflowConfig.shop_id == shop_id, WorkflowConfig.name == name
        )
    )
    row = WorkflowConfig(
        shop_id=shop_id,
        name=name,
        version=(latest or 0) + 1,
        enabled=enabled if enabled is not None else (current.enabled if current else True),
        definition=definition,
        note=note,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    held = Batch.current(session)
    if held is not None:  # the transaction's batch read the versions before this one
        held.workflows.pop(shop_id, None)
    return ShopWorkflow(parse_cached(definition), definition, row.enabled, row.version)


def set_enabled(session: Session, shop_id: int, name: str, enabled: bool) -> ShopWorkflow:
    """Switch a workflow on or off (stored as a new version, so history stays complete)."""
    current = shop_workflows(session, shop_id).get(name)
    if current is None:
        raise KeyError(name)
    return save_workflow(session, shop_id, current.definition, enabled=enabled)


def workflow_versions(session: Session, shop_id: int, name: str) -> list[WorkflowConfig]:
    """Every saved version of a workflow, newest first."""
    return list(
        session.scalars(
            select(WorkflowConfig)
            .where(WorkflowConfig.shop_id == shop_id, WorkflowConfig.name == name)
            .order_by(WorkflowConfig.version.desc())
        )
    )
