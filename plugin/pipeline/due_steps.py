"""Run due steps: re-check conditions on current facts, apply shop policies, write the outbox.

Each step is claimed and decided in one transaction, so a crash leaves it pending and two
workers never decide the same step twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningUpdate

from plugin.pipeline import held, offers, step_histories
from plugin.pipeline.enrollment import UPDATE_STEPS
from plugin.pipeline.episode_facts import facts_for
from plugin.pipeline.exits import end_episode
from plugin.pipeline.held import HELD_REASON
from plugin.pipeline.outbox import Sender, write_actions
from plugin.services import Services
from plugin.shop_settings.policies import (
    postal_address,
    send_window_opens,
    settings_for_reading,
    staff_address,
)
from plugin.shop_settings.workflows import batch_workflows
from plugin.storage import batch_episodes, facts_store
from plugin.storage.batch import Batch, begin_batch
from plugin.storage.db import CONFLICT_RETRIES, claim_rows, error_text, is_conflict, now_param
from plugin.storage.models import Episode, Shop, Step
from rules.evaluation import evaluate_step
from rules.send_policy import MAX_DEFERRALS, OUTSIDE_WINDOW, frequency_cap, given_up
from rules.variants import choose_variant, variant_actions

log = logging.getLogger(__name__)


@dataclass
class RunStats:
    """What one run of due steps decided."""

    fired: int = 0
    skipped: int = 0
    deferred: int = 0
    cancelled: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    more: bool = False  # a run limited to some batches stopped with steps left


def run_due(
    services: Services,
    now: datetime,
    limit: int = 200,
    shop: int | None = None,
    batches: int | None = None,
) -> RunStats:
    """Decide every step due by ``now`` (of one ``shop``, or all), ``limit`` per
    transaction, or at most ``batches`` transactions; then say what happened (``more``:
    steps may be left)."""
    stats = RunStats()
    conflicts = 0
    done = 0
    while True:
        claimed: list[int] = []
        batch = RunStats()  # counted only once its transaction commits
        try:
            more = _run_batch(services, now, batch, limit, claimed, shop=shop)
        except Exception as exc:
            if is_conflict(exc) and conflicts < CONFLICT_RETRIES:
                # lost a race with another worker (same customer's facts): run it again
                conflicts += 1
                log.info("due-step batch lost a race; claiming again: %s", exc)
                continue
            if not claimed:
                raise  # the claim itself failed (the database): nothing to isolate
            # one step broke the batch: isolate it, keep the rest going
            log.exception("due-step batch failed; deciding its steps one by one")
            for step_id in claimed:
                _run_alone(services, step_id, now, stats)
            more = True
        else:
            _add(stats, batch)
        done += 1
        if not more or (batches is not None and done >= batches):
            stats.more = more
            return stats


def due_shops(services: Services, now: datetime) -> list[int]:
    """The shops with steps due by ``now``."""
    with services.sessions() as session:
        return list(session.scalars(_DUE_SHOPS, {"now": now}))


def _add(stats: RunStats, batch: RunStats) -> None:
    for outcome in ("fired", "skipped", "deferred", "cancelled"):
        setattr(stats, outcome, getattr(stats, outcome) + getattr(batch, outcome))
    for reason, count in batch.reasons.items():
        stats.reasons[reason] = stats.reasons.get(reason, 0) + count


@lru_cache(maxsize=64)
def _claim_statement(limit: int, only: int | None, one_shop: bool = False) -> ReturningUpdate[int]:
    """Claim up to ``limit`` pending steps due by ``:now``, earliest first (or just
    ``only``), of every shop or of the one bound as ``:shop``."""

    def ready(step):  # type: ignore[no-untyped-def]
        due = (step.state == "pending") & (step.due_at <= now_param())
        if one_shop:
            due &= step.shop_id == bindparam("shop")
        return due if only is None else due & (step.id == only)

    return (
        claim_rows(Step, ready=ready, order=lambda s: (s.due_at, s.id), limit=limit)
        .values(state="running")
        .returning(Step.id)
    )


def _run_batch(
    services: Services,
    now: datetime,
    stats: RunStats,
    limit: int,
    claimed: list[int],
    only: int | None = None,
    shop: int | None = None,
) -> bool:
    """Claim and decide a batch of due steps in one transaction; False when no more was
    due: the claim found fewer than ``limit`` (a deferred step is due later, and deciding
    makes no new due steps, so another claim would find nothing).

    ``claimed`` receives the ids, so that a batch that fails can be retried step by step.
    """
    with begin_batch(services.sessions) as batch:
        session = batch.session
        # through the session's connection: a plain UPDATE, no ORM bookkeeping
        claim = _claim_statement(limit, only, shop is not None)
        params = {"now": now} if shop is None else {"now": now, "shop": shop}
        claimed[:] = session.connection().execute(claim, params).scalars().all()
        if not claimed:
            return False
        steps = [ClaimedStep(*row) for row in session.execute(_CLAIMED_STEPS, {"ids": claimed})]
        # Their episodes, shops and customers in a query each; decide_step finds them in the
        # session. Held here for the batch: the session's identity map keeps unchanged
        # objects only while something else refers to them, and without these lists each
        # step loaded its episode and shop again.
        episodes = session.scalars(_EPISODES, {"ids": list({s.episode_id for s in steps})}).all()
        shops = session.scalars(_SHOPS, {"ids": list({s.shop_id for s in steps})}).all()
        for shop_id, keys in _batch_keys(batch, episodes).items():
            facts_store.prefetch_keys(
                batch,
                shop_id,
                customers=keys.customers,
                checkouts=keys.checkouts,
                orders=keys.orders,
                read_only=True,  # a decision changes none of them
            )
            step_histories.prefetch(batch, shop_id, keys.customers)
        open_steps = _open_steps(session, [e.id for e in episodes])
        decisions = Decisions(batch, open_steps, {step.id: step for step in steps})
        # The decisions are written when every step is decided: what a decision reads does
        # not change within the batch, except the emails it queued (which
        # facts_store.last_email_at counts from the batch) and the steps it decided
        # (which _finish reads from the claimed steps). No decision reads the steps table,
        # so the pending steps of the episodes that end are cancelled once (the batch holds
        # them back), before the decisions are written (their steps claimed here read
        # 'running' until then, and are not matched); the episodes and outbox rows are
        # flushed at commit.
        with session.no_autoflush:
            for step in steps:
                outcome = decide_step(decisions, services, step, now)
                _count(stats, outcome, step.reason)
        batch_episodes.write_cancels(batch)
        _write_decisions(session, steps)
        del episodes, shops  # held until every step is decided (see above)
    return len(claimed) == limit


@dataclass
class Decisions:
    """A batch of due steps as it decides them: its transaction's batch, the open steps of
    its episodes as it began (episode id -> step ids), and its claimed steps by id."""

    batch: Batch
    open_steps: dict[int, list[int]]
    claimed: dict[int, ClaimedStep]


@dataclass(slots=True)
class ClaimedStep:
    """A claimed step as the batch decides it: a plain row, not an ORM object (loading
    and flushing objects was most of what a batch spent on its steps); its decision is
    written with the batch's others in two executemany (``_write_decisions``)."""

    id: int
    episode_id: int
    shop_id: int
    step_id: str
    due_at: datetime
    deferrals: int
    reason: str | None
    state: str = "running"
    decided_at: datetime | None = None


def _write_decisions(session: Session, steps: list[ClaimedStep]) -> None:
    """The decided steps in one statement, those put back for later in another."""
    decided = [
        {"_id": s.id, "state": s.state, "reason": s.reason, "decided_at": s.decided_at}
        for s in steps
        if s.state != "pending"
    ]
    deferred = [
        {
            "_id": s.id,
            "state": s.state,
            "due_at": s.due_at,
            "reason": s.reason,
            "deferrals": s.deferrals,
        }
        for s in steps
        if s.state == "pending"
    ]
    connection = session.connection()
    for rows in (decided, deferred):
        if rows:
            connection.execute(UPDATE_STEPS, rows)


@dataclass
class _Keys:
    customers: set[str] = field(default_factory=set)
    checkouts: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)


def _batch_keys(batch: Batch, episodes: Iterable[Episode]) -> dict[int, _Keys]:
    """Per shop, the customers of a batch's episodes and the checkouts and orders they are
    about (episode_facts.facts_for reads them)."""
    found: dict[int, _Keys] = {}
    for episode in episodes:
        keys = found.setdefault(episode.shop_id, _Keys())
        keys.customers.add(episode.customer_external_id)
        shop_workflow = batch_workflows(batch, episode.shop_id).get(episode.workflow)
        kind = shop_workflow.workflow.trigger.subject if shop_workflow is not None else None
        if kind == "checkout":
            keys.checkouts.add(episode.subject)
        elif kind == "order":
            keys.orders.add(episode.subject)
    return found


_CLAIMED_STEPS = (
    select(
        Step.id,
        Step.episode_id,
        Step.shop_id,
        Step.step_id,
        Step.due_at,
        Step.deferrals,
        Step.reason,
    )
    .where(Step.id.in_(bindparam("ids", expanding=True)))
    .order_by(Step.due_at, Step.id)
)
_DUE_SHOPS = (
    select(Step.shop_id).where(Step.state == "pending", Step.due_at <= now_param()).distinct()
)
_EPISODES = select(Episode).where(Episode.id.in_(bindparam("ids", expanding=True)))
_SHOPS = select(Shop).where(Shop.id.in_(bindparam("ids", expanding=True)))


def _run_alone(services: Services, step_id: int, now: datetime, stats: RunStats) -> None:
    try:
        _run_batch(services, now, stats, 1, [], only=step_id)
    except Exception as exc:  # park it with the error instead of retrying it forever
        if is_conflict(exc):
            return  # a race, not this step's fault: it stays pending for the next pass
        log.exception("step %s failed", step_id)
        with services.sessions() as session, session.begin():
            session.execute(
                update(Step)
                .where(Step.id == step_id, Step.state == "pending")
                .values(
                    state="error",
                    decided_at=now,
                    reason=f"error: {error_text(exc)}",
                )
            )


def _count(stats: RunStats, outcome: str, reason: str | None) -> None:
    setattr(stats, outcome, getattr(stats, outcome) + 1)
    if outcome == "skipped" and reason:
        stats.reasons[reason] = stats.reasons.get(reason, 0) + 1


def decide_step(decisions: Decisions, services: Services, step: ClaimedStep, now: datetime) -> str:
    """Decide one claimed step; return 'fired', 'skipped', 'deferred' or 'cancelled'."""
    batch = decisions.batch
    session = batch.session
    episode = session.get_one(Episode, step.episode_id)
    shop = session.get_one(Shop, step.shop_id)
    if episode.state != "active" or not shop.active:
        return _finish(
            decisions, step, "cancelled", "episode ended" if shop.active else "shop inactive", now
        )
    shop_workflow = batch_workflows(batch, shop.id).get(episode.workflow)
    if shop_workflow is None or not shop_workflow.enabled:
        return _finish(decisions, step, "skipped", "workflow disabled", now)
    workflow = shop_workflow.workflow
    step_def = next((s for s in workflow.steps if s.id == step.step_id), None)
    if step_def is None:
        return _finish(decisions, step, "skipped", "step no longer in workflow", now)

    settings = settings_for_reading(batch, shop)
    marketing_email = workflow.sends_marketing_email(step_def)
    if marketing_email:
        # Quiet hours first, before any facts are loaded: the conditions are checked
        # when the step may actually send, on the facts as they are then. Enrollment
        # scheduled the step inside the window; this holds it to the settings and the
        # customer's timezone as they are now, and to a pass that came after closing time.
        timezone = facts_store.customer_timezone(batch, shop.id, episode.customer_external_id)
        opens = send_window_opens(settings, timezone, now)
        if opens > now:
            return _defer(decisions, step, opens, OUTSIDE_WINDOW, now)

    facts = facts_for(batch, episode, workflow, now)
    decision = evaluate_step(step_def, facts)
    if not decision.fired:
        return _finish(decisions, step, "skipped", decision.reason, now)
    sends_email = any(a.name == "send_email" for a in decision.actions)
    if sends_email and not facts.customer.email:
        return _finish(decisions, step, "skipped", "no email address", now)
    if sends_email and facts.suppressed:
        return _finish(decisions, step, "skipped", "address suppressed or unsubscribed", now)
    if episode.holdout:
        return _finish(decisions, step, "skipped", "holdout group (never messaged)", now)
    if marketing_email and postal_address(settings) is None:
        # after the conditions: a step they skip is skipped, not held
        return _hold(decisions, step, now)
    if any(a.name == "create_discount" for a in decision.actions):
        refused = offers.refusal(batch, shop.id, episode.customer_external_id, facts, settings)
        if refused is not None:
            # the whole step: its email is about the code it would have carried
            return _finish(decisions, step, "skipped", refused, now)
    if marketing_email:
        capped = frequency_cap(settings, facts.last_marketing_email_at, now)
        if capped is not None:
            if capped.until is None:
                return _finish(decisions, step, "skipped", capped.reason, now)
            return _defer(decisions, step, capped.until, capped.reason, now)

    sender = Sender(
        app_url=services.settings["APP_URL"].rstrip("/"),
        secret_key=services.settings["SECRET_KEY"],
        shop_name=settings.get("name") or shop.domain,
        shop_url=f"https://{shop.domain}",
        staff_email=staff_address(shop, settings),
        postal_address=postal_address(settings),
        overrides={
            key: value
            for key, value in (shop_workflow.definition.get("sender") or {}).items()
            if value is not None
        },
    )
    actions, variant = decision.actions, None
    chosen = choose_variant(
        step_def.variants, workflow.name, step_def.id, episode.customer_external_id, step_def.winner
    )
    if chosen is not None:
        variant = chosen.id
        if chosen.actions is not None:
            actions = variant_actions(chosen.actions)
    write_actions(
        session, shop, sender, episode, step.step_id, workflow, facts, actions, now, variant
    )
    reason = decision.reason or "conditions met"
    return _finish(
        decisions, step, "fired", f"{reason} (variant {variant})" if variant else reason, now
    )


def _defer(
    decisions: Decisions, step: ClaimedStep, until: datetime, why: str, now: datetime
) -> str:
    """Put a step back to pending for later; give up (with the reason) if it keeps slipping."""
    gave_up = given_up(why, step.deferrals)
    if gave_up is not None:
        return _finish(decisions, step, "skipped", gave_up, now)
    step.state, step.due_at, step.reason = "pending", until, f"deferred: {why}"
    step.deferrals += 1
    return "deferred"


def _hold(decisions: Decisions, step: ClaimedStep, now: datetime) -> str:
    """Keep a marketing step pending while its shop has no postal address (plugin.pipeline.held);
    given up, with the reason, if it is held as long as a step may be deferred."""
    if step.deferrals >= MAX_DEFERRALS:
        return _finish(decisions, step, "skipped", f"{HELD_REASON} (held too long)", now)
    step.state, step.due_at, step.reason = "pending", now + held.RECHECK, HELD_REASON
    step.deferrals += 1
    return "deferred"


OPEN = ("pending", "running")
_OPEN_STEPS = select(Step.id).where(Step.episode_id == bindparam("episode"), Step.state.in_(OPEN))
_OPEN_STEPS_OF = select(Step.episode_id, Step.id).where(
    Step.episode_id.in_(bindparam("episodes", expanding=True)), Step.state.in_(OPEN)
)


def _open_steps(session: Session, episode_ids: list[int]) -> dict[int, list[int]]:
    """The open steps of a batch's episodes, in one query (not one per decided step)."""
    found: dict[int, list[int]] = {episode_id: [] for episode_id in episode_ids}
    for episode_id, step_id in session.execute(_OPEN_STEPS_OF, {"episodes": episode_ids}):
        found[episode_id].append(step_id)
    return found


def _finish(decisions: Decisions, step: ClaimedStep, state: str, reason: str, now: datetime) -> str:
    step.state, step.reason, step.decided_at = state, reason, now
    if not _open_step_remains(decisions, step.episode_id):
        episode = decisions.batch.session.get_one(Episode, step.episode_id)
        if episode.state == "active":
            # cancels the steps still pending in the database; none of this batch's is
            # open, or the episode would have gone on
            end_episode(decisions.batch, episode, "completed", "all steps decided", now)
    return state


def _open_step_remains(decisions: Decisions, episode_id: int) -> bool:
    """Whether the episode has a step still to decide, as this transaction sees it: open in
    the database (a claimed step reads 'running' there until the batch writes its
    decisions) and not decided since in the batch.

    The batch read its episodes' open steps when it began. Within it, only its own
    decisions change a step (seen here in its claimed steps), and ending an episode, which
    cancels its pending steps in the database: then the episode is no longer active, and
    what this answers for it no longer matters (see _finish).
    """
    held = decisions.open_steps.get(episode_id)
    session = decisions.batch.session
    open_ids = held if held is not None else session.scalars(_OPEN_STEPS, {"episode": episode_id})
    claimed = decisions.claimed
    for step_id in open_ids:
        in_batch = claimed.get(step_id)
        if in_batch is None or in_batch.state in OPEN:
            return True
    return False
