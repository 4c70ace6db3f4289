"""Backtest a workflow: replay the stored facts of the last N days through its live
definition and, optionally, a draft, and say what each would have done. Nothing is sent or
written: every read is in one transaction that is rolled back (read-only on PostgreSQL).

The replay follows what the pipeline does, on facts as they stood when each step fell due:
each subject the trigger names in the window (a checkout by its last activity, an order
by its placement or fulfilment, a subscriber by their consent), or the workflow's sweep
finds (plugin.pipeline.backtest_sweeps), is enrolled at that moment unless the
re-enrollment rule refuses it. Its steps are placed in the customer's send window as the
enrollment places them, and decided in the order they fall due, across every episode,
as the worker decides them: the worker's own evaluation (``rules.evaluation.evaluate_step``)
on the customer's orders placed before then, the checkout as completed by then, consent
and suppressions as recorded by then, email engagement by then, and the emails sent by
then (stored ones of other workflows, the replay's own); then the frequency cap
(``rules.send_policy``), which holds a send until it allows one, or drops it. An order
(or, where the workflow exits on it, an engagement) before a step ends the episode. A
send counts as converted when the customer ordered within ``ATTRIBUTION`` after it, as
the pipeline credits orders.

What it does not replay: the discount-code limits (plugin.pipeline.offers), a marketing
email held for want of a postal address, the sweeps of leads and sales alerts, rhythms
per product, and conditions on storefront browsing or the customer's history of products.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from heapq import heappop, heappush
from itertools import count
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from connectors.sendgrid.events import ENGAGED
from plugin.pipeline.backtest_sweeps import REPLAYED_SWEEPS, Person, placed_at, swept

# the enrollment's own arithmetic: each step's due time, a marketing email's placed in the
# customer's send window (a change to either is a change to both)
from plugin.pipeline.enrollment import _due_times, _in_window
from plugin.pipeline.episode_facts import catalog_reads
from plugin.pipeline.exits import ATTRIBUTION
from plugin.shop_settings.policies import send_window_opens, shop_settings
from plugin.storage.browsing import needs_browsing
from plugin.storage.facts_store import (
    HISTORY_COLUMNS,
    checkout_fact,
    customer_fact,
    guest_key,
    normal_email,
    order_fact,
)
from plugin.storage.facts_store.catalog import product_fact
from plugin.storage.models import (
    CheckoutRow,
    CustomerRow,
    EngagementRow,
    Episode,
    OrderRow,
    OutboxMessage,
    ProductRow,
    Shop,
    Suppression,
)
from rules import events as ev
from rules.consent_history import consent_at, consent_history
from rules.definitions import StepDef, Workflow
from rules.evaluation import evaluate_step, reason_group
from rules.facts import Checkout, Customer, FactSet, Order
from rules.scheduling import in_holdout, step_due_at
from rules.send_policy import OUTSIDE_WINDOW, frequency_cap, given_up
from rules.sweep_eligibility import mean_days_between

CHANGED_SHOWN = 100
SWEEP_EVERY = timedelta(hours=1)  # the embedded worker's, and beat's default SWEEP_SECONDS
HOLDOUT = "holdout group (never messaged)"
NO_EMAIL = "no email address"
SUPPRESSED = "address suppressed or unsubscribed"


class BacktestUnsupported(ValueError):
    """The workflow's trigger is not one a backtest can replay."""


@dataclass(frozen=True, slots=True)
class Subject:
    key: str
    customer: str  # the customer's id, or a guest key
    email: str | None
    at: datetime  # when it was enrolled (its trigger's moment)
    anchors: dict[str, datetime]
    checkout: Checkout | None = None
    order: Order | None = None
    anchor_at: datetime | None = None  # the episode's anchor when not its first step's


@dataclass
class StoredFacts:
    """What the replay reads, loaded once for every definition it replays."""

    subjects: list[Subject]
    customers: dict[str, Customer]
    orders: dict[str, list[Order]]  # customer key -> orders, oldest first (without items)
    emails_sent: dict[str, list[tuple[datetime, str, str]]]  # -> (when, workflow, category)
    suppressed: dict[str, datetime]  # address -> since when
    catalog: dict[str, Any]
    settings: dict[str, Any]  # the shop's, defaults filled in (send window, cap)
    # customer key -> when they opened or clicked an email, oldest first
    engaged: dict[str, list[datetime]] = field(default_factory=dict)
    # a swept workflow's draft sweeps by its own trigger (its subjects differ from live's)
    draft_subjects: list[Subject] | None = None
    # customer key -> what their record said of consent, from when (see consent_history)
    consents: dict[str, list[tuple[datetime | None, bool]]] = field(default_factory=dict)
    # (subject, orders placed by then, engagements by then, consent then) -> the customer
    as_of: dict[tuple[str, int, int, bool | None], Customer] = field(default_factory=dict)


@dataclass
class Outcome:
    """What one definition would have done."""

    enrolled: int = 0
    would_send: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    converted: int = 0
    not_due_yet: int = 0  # steps that fall due after the window's end
    # steps the send window or the frequency cap moved later, by reason (once per step)
    held: Counter[str] = field(default_factory=Counter)
    by_subject: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "enrolled": self.enrolled,
            "would_send": self.would_send,
            "skipped": dict(self.skipped.most_common()),
            "converted": self.converted,
            "not_due_yet": self.not_due_yet,
            "held": dict(self.held.most_common()),
        }


def backtest(
    session: Session,
    shop_id: int,
    live: Workflow,
    draft: Workflow | None,
    days: int,
    now: datetime,
    sweep_every: timedelta = SWEEP_EVERY,
) -> dict[str, Any]:
    """Replay the last ``days`` of stored facts through ``live`` (and ``draft``); a
    sweep-started workflow's sweeps run every ``sweep_every``."""
    started = time.perf_counter()
    with read_only(session):
        start = now - timedelta(days=days)
        facts = load_facts(session, shop_id, live, draft, start, now, sweep_every)
    live_outcome = replay(live, facts, now)
    result: dict[str, Any] = {"workflow": live.name, "days": days, "subjects": len(facts.subjects)}
    result["live"] = live_outcome.as_json()
    result["draft"] = None
    result["changed"] = []
    if draft is not None:
        draft_outcome = replay(draft, facts, now, facts.draft_subjects)
        result["draft"] = draft_outcome.as_json()
        result["changed"] = changed(facts, live_outcome, draft_outcome)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


@contextmanager
def read_only(session: Session) -> Iterator[None]:
    """One transaction that cannot write (PostgreSQL says so; SQLite's is rolled back).
    What the session read before (the shop's workflows) is left behind with its own."""
    session.rollback()
    with session.begin():
        if session.connection().dialect.name == "postgresql":
            session.execute(text("SET TRANSACTION READ ONLY"))
        try:
            yield
        finally:
            session.rollback()


def changed(facts: StoredFacts, live: Outcome, draft: Outcome) -> list[dict[str, str | None]]:
    """The subjects whose outcome differs, first ``CHANGED_SHOWN``, in enrollment order."""
    found: list[dict[str, str | None]] = []
    subjects = facts.subjects
    if facts.draft_subjects is not None:  # swept by both: each subject once
        subjects = sorted({s.key: s for s in facts.draft_subjects + subjects}.values(), key=_at)
    for subject in subjects:
        before, after = live.by_subject.get(subject.key), draft.by_subject.get(subject.key)
        if before != after:
            found.append(
                {
                    "customer": subject.customer,
                    "email": subject.email,
                    "subject": subject.key,
                    "live": before,
                    "draft": after,
                }
            )
            if len(found) == CHANGED_SHOWN:
                break
    return found


def _at(subject: Subject) -> datetime:
    return subject.at


def replay(
    workflow: Workflow, facts: StoredFacts, now: datetime, subjects: list[Subject] | None = None
) -> Outcome:
    """What ``workflow`` would have done with the stored subjects (or ``subjects``, those
    its own sweep found): every step of every episode decided in the order they fall due,
    on one clock, as the worker decides them (a customer's sends of one episode are what
    the frequency cap sees in the next)."""
    outcome = Outcome()
    episodes = _enroll(workflow, facts.subjects if subjects is None else subjects, facts, outcome)
    due: list[tuple[datetime, int, int, int, int]] = []  # (when, order, episode, step, deferrals)
    order = count()
    marketing = [workflow.sends_marketing_email(step) for step in workflow.steps]
    for number, episode in enumerate(episodes):
        subject = episode.subject
        scheduled = _due_times(workflow, subject.customer, subject.anchors, subject.at)
        for index, step in enumerate(workflow.steps):
            at = scheduled[index]
            if marketing[index]:
                # the enrollment's own placing in the customer's send window
                at = _in_window(facts.settings, episode.timezone, at, subject.at)
                if at > scheduled[index]:
                    _note_held(episode, step, OUTSIDE_WINDOW, outcome)
            heappush(due, (max(at, subject.at), next(order), number, index, 0))
    sent: dict[str, list[datetime]] = {}  # customer -> this replay's sends, oldest first
    while due:
        at, _, number, index, deferrals = heappop(due)
        episode = episodes[number]
        if episode.over:
            continue
        step = workflow.steps[index]
        if at > now:
            outcome.not_due_yet += 1
            episode.said.append(f"{step.id}: not due yet")
            episode.over = True  # the rest falls due later still
            continue
        later = _decide(
            workflow, facts, episode, step, marketing[index], at, deferrals, sent, outcome
        )
        if later is not None:
            heappush(due, (later, next(order), number, index, deferrals + 1))
    for episode in episodes:
        subject = episode.subject
        touched = episode.touched
        if touched is not None and any(
            touched < o.created_at <= touched + ATTRIBUTION  # type: ignore[operator]
            for o in episode.orders
            if o.id != subject.key and o.created_at
        ):
            outcome.converted += 1
            episode.said.append("converted")
        outcome.by_subject[subject.key] = "; ".join(episode.said) or "enrolled"
    return outcome


@dataclass(slots=True)
class _Episode:
    """One replayed episode as its steps are decided."""

    subject: Subject
    holdout: bool
    orders: Sequence[Order]
    timezone: str | None  # the customer's, for their send window
    said: list[str] = field(default_factory=list)
    touched: datetime | None = None  # its first send (or the holdout's would-be send)
    over: bool = False  # exited, or its next step falls due after the window's end


def _enroll(
    workflow: Workflow, subjects: list[Subject], facts: StoredFacts, outcome: Outcome
) -> list[_Episode]:
    """The subjects enrolled, in order, unless the re-enrollment rule refuses them."""
    enrolled_at: dict[str, datetime] = {}
    episodes = []
    for subject in subjects:
        previous = enrolled_at.get(subject.key)
        if previous is not None and (
            workflow.reenroll_after_days is None
            or subject.at - previous < timedelta(days=workflow.reenroll_after_days)
        ):
            continue
        enrolled_at[subject.key] = subject.at
        outcome.enrolled += 1
        holdout = in_holdout(subject.customer, workflow.name, workflow.holdout_percent)
        stored = facts.customers.get(subject.customer)
        timezone = stored.timezone if stored is not None else None
        episodes.append(
            _Episode(subject, holdout, facts.orders.get(subject.customer, ()), timezone)
        )
    return episodes


def _decide(
    workflow: Workflow,
    facts: StoredFacts,
    episode: _Episode,
    step: StepDef,
    marketing: bool,
    at: datetime,
    deferrals: int,
    sent: dict[str, list[datetime]],
    outcome: Outcome,
) -> datetime | None:
    """Decide one step at ``at`` as the worker would (plugin.pipeline.due_steps.decide_step,
    without its sending); return when to decide it again if the window or the cap defers it."""
    subject = episode.subject
    # the window as the worker checks it again when the step falls due; a step not yet
    # deferred was placed in it when enrolled, on the same settings and timezone
    if marketing and deferrals:
        opens = send_window_opens(facts.settings, episode.timezone, at)
        if opens > at:
            return _defer(episode, step, opens, OUTSIDE_WINDOW, deferrals, outcome)
    if ev.ORDER_PLACED in workflow.exit_on and any(
        subject.at < o.created_at <= at  # type: ignore[operator]
        for o in episode.orders
        if o.id != subject.key and o.created_at
    ):
        episode.said.append("exited: order placed")
        episode.over = True
        return None
    if ev.EMAIL_ENGAGED in workflow.exit_on and any(
        subject.at < moment <= at for moment in facts.engaged.get(subject.customer, ())
    ):
        episode.said.append("exited: email engaged")
        episode.over = True
        return None
    step_facts = _facts_at(workflow, facts, subject, sent, at)
    decision = evaluate_step(step, step_facts)
    sends = any(a.name == "send_email" for a in decision.actions)
    reason = None
    if not decision.fired:
        reason = reason_group(decision.reason)
    elif sends and not step_facts.customer.email:
        reason = NO_EMAIL
    elif sends and step_facts.suppressed:
        reason = SUPPRESSED
    elif episode.holdout:
        reason = HOLDOUT
        episode.touched = episode.touched or at
    elif marketing:
        capped = frequency_cap(facts.settings, step_facts.last_marketing_email_at, at)
        if capped is not None and capped.until is not None:
            return _defer(episode, step, capped.until, capped.reason, deferrals, outcome)
        reason = capped.reason if capped is not None else None
    if reason is not None:
        outcome.skipped[reason] += 1
        episode.said.append(f"{step.id}: skipped ({reason})")
        return None
    episode.touched = episode.touched or at
    if sends:
        outcome.would_send += 1
        sent.setdefault(subject.customer, []).append(at)
        episode.said.append(f"{step.id}: sends")
    else:
        episode.said.append(f"{step.id}: fires")
    return None


def _defer(
    episode: _Episode,
    step: StepDef,
    until: datetime,
    why: str,
    deferrals: int,
    outcome: Outcome,
) -> datetime | None:
    """Hold the step until ``until`` (counted once per step and reason), or give it up."""
    gave_up = given_up(why, deferrals)
    if gave_up is not None:
        outcome.skipped[gave_up] += 1
        episode.said.append(f"{step.id}: skipped ({gave_up})")
        return None
    _note_held(episode, step, why, outcome)
    return until


def _note_held(episode: _Episode, step: StepDef, why: str, outcome: Outcome) -> None:
    """Count a step the window or the cap moved later, once per step and reason."""
    held = f"{step.id}: held ({why})"
    if held not in episode.said:
        outcome.held[why] += 1
        episode.said.append(held)


def _facts_at(
    workflow: Workflow,
    facts: StoredFacts,
    subject: Subject,
    sent: dict[str, list[datetime]],
    due: datetime,
) -> FactSet:
    """The facts as they stood at ``due``: orders placed by then, the checkout as completed
    by then, the emails sent by then (stored ones of other workflows, this replay's own)."""
    placed = [
        o for o in facts.orders.get(subject.customer, ()) if o.created_at and o.created_at <= due
    ]
    customer = _customer_at(facts, subject, placed, due)
    checkout = subject.checkout
    if checkout is not None and checkout.completed_at is not None and checkout.completed_at > due:
        checkout = replace(checkout, completed_at=None)
    order = subject.order
    if order is not None:
        order = replace(
            order,
            fulfilled_at=order.fulfilled_at
            if order.fulfilled_at and order.fulfilled_at <= due
            else None,
            cancelled_at=order.cancelled_at
            if order.cancelled_at and order.cancelled_at <= due
            else None,
        )
    last_marketing = last_abandonment = None
    for at, name, category in facts.emails_sent.get(subject.customer, ()):
        if at > due or name == workflow.name:
            continue
        if category == "marketing":
            last_marketing = max(last_marketing or at, at)
        if name == "cart_abandonment":
            last_abandonment = max(last_abandonment or at, at)
    for at in sent.get(subject.customer, ()):
        if at > due:  # a send of an earlier subject's later step
            continue
        if workflow.category == "marketing":
            last_marketing = max(last_marketing or at, at)
        if workflow.name == "cart_abandonment":
            last_abandonment = max(last_abandonment or at, at)
    email = customer.email
    return FactSet(
        now=due,
        customer=customer,
        checkout=checkout,
        order=order,
        orders=tuple(reversed(placed)),
        anchor_at=subject.anchor_at
        or subject.anchors.get(workflow.steps[0].delay.from_, subject.at),
        last_marketing_email_at=last_marketing,
        last_abandonment_email_at=last_abandonment,
        suppressed=email is not None and _suppressed_by(facts, email, due),
        catalog=facts.catalog,
    )


def _customer_at(
    facts: StoredFacts, subject: Subject, placed: list[Order], due: datetime
) -> Customer:
    """The customer with their consent as their record said it at ``due`` and their order
    counts as of the orders ``placed`` by then, made once per subject, count and consent
    (most steps of a subject see the same)."""
    consent = consent_at(facts.consents.get(subject.customer, ()), due)
    engaged = facts.engaged.get(subject.customer, ())
    seen = bisect_right(engaged, due)  # the engagements by then
    key = (subject.key, len(placed), seen, consent)
    held = facts.as_of.get(key)
    if held is not None:
        return held
    stored = facts.customers.get(subject.customer) or Customer(
        id=subject.customer, email=subject.email
    )
    if consent is None:  # the buyer's own checkbox stands in, as for the worker
        source = subject.checkout or subject.order
        consent = source.accepts_marketing if source else None
    standing = [o for o in placed if o.cancelled_at is None and not o.refunded]
    # the rhythm across the orders that stood then (what the reorder sweep reads)
    kept = [placed_at(o) for o in placed if o.cancelled_at is None or o.cancelled_at > due]
    customer = facts.as_of[key] = replace(
        stored,
        email=stored.email or subject.email,
        accepts_marketing=consent,
        orders_count=len(placed),
        total_spent=sum((o.value for o in standing), Decimal("0")),
        first_order_at=placed[0].created_at if placed else None,
        last_order_at=placed[-1].created_at if placed else None,
        last_engaged_at=engaged[seen - 1] if seen else None,
        mean_days_between_orders=mean_days_between(kept[0], kept[-1], len(kept)) if kept else None,
    )
    return customer


def _suppressed_by(facts: StoredFacts, email: str, at: datetime) -> bool:
    since = facts.suppressed.get(normal_email(email))
    return since is not None and since <= at


def load_facts(
    session: Session,
    shop_id: int,
    live: Workflow,
    draft: Workflow | None,
    start: datetime,
    end: datetime,
    sweep_every: timedelta = SWEEP_EVERY,
) -> StoredFacts:
    """Read the subjects of the window and their customers' histories, in a few queries."""
    for workflow in (live, draft):
        if workflow is not None:
            _check_replayable(workflow)
    trigger = live.trigger
    if draft is not None and (
        draft.trigger.event,
        draft.trigger.sweep,
        draft.trigger.subject,
    ) != (trigger.event, trigger.sweep, trigger.subject):
        raise BacktestUnsupported("the draft's trigger must be the live one's")
    by_email = dict(
        session.execute(
            select(CustomerRow.email, CustomerRow.external_id).where(
                CustomerRow.shop_id == shop_id, CustomerRow.email.is_not(None)
            )
        ).all()
    )
    swept = trigger.sweep is not None
    subjects = [] if swept else _subjects(session, shop_id, live, by_email, start, end)
    # a sweep looks at every customer; a trigger's subjects name theirs
    keys = set(by_email.values()) if swept else {s.customer for s in subjects}
    customers: dict[str, Customer] = {}
    consents: dict[str, list[tuple[datetime | None, bool]]] = {}
    for row in session.execute(_CUSTOMER_COLUMNS.where(CustomerRow.shop_id == shop_id)):
        if row.external_id in keys:
            customers[row.external_id] = customer_fact(row, with_orders=False)
            consents[row.external_id] = consent_history(
                row.accepts_marketing, row.consent_updated_at, row.unsubscribed_at
            )
    orders: dict[str, list[Order]] = {}
    for row in session.execute(
        _ORDER_COLUMNS.where(OrderRow.shop_id == shop_id).order_by(OrderRow.created_at)
    ):
        key = row.customer_external_id or (
            (by_email.get(normal_email(row.email)) or guest_key(row.email)) if row.email else None
        )
        if key in keys:
            orders.setdefault(key, []).append(order_fact(row, with_items=False))  # type: ignore[arg-type]
    emails: dict[str, list[tuple[datetime, str, str]]] = {}
    for customer, at, name, category in session.execute(
        select(
            OutboxMessage.customer_external_id,
            OutboxMessage.created_at,
            OutboxMessage.workflow,
            OutboxMessage.category,
        ).where(
            OutboxMessage.shop_id == shop_id,
            OutboxMessage.kind == "email",
            OutboxMessage.state.in_(("sent", "kept", "pending", "sending")),
        )
    ):
        if customer in keys:
            emails.setdefault(customer, []).append((at, name, category))
    suppressed: dict[str, datetime] = {}
    for email, since in session.execute(
        select(Suppression.email, Suppression.created_at).where(Suppression.shop_id == shop_id)
    ):
        address = normal_email(email)
        suppressed[address] = min(suppressed.get(address, since), since)
    catalog = {}
    if any(catalog_reads(w)[0] for w in (live, draft) if w is not None):
        catalog = {
            row.product_id: product_fact(row)
            for row in session.scalars(select(ProductRow).where(ProductRow.shop_id == shop_id))
        }
    engaged: dict[str, list[datetime]] = {}
    for email, moment in session.execute(
        select(EngagementRow.email, EngagementRow.occurred_at)
        .where(EngagementRow.shop_id == shop_id, EngagementRow.kind.in_(ENGAGED))
        .order_by(EngagementRow.occurred_at)
    ):
        key = by_email.get(normal_email(email))
        if key in keys:
            engaged.setdefault(key, []).append(moment)
    shop = session.get_one(Shop, shop_id)
    facts = StoredFacts(
        subjects,
        customers,
        orders,
        emails,
        suppressed,
        catalog,
        shop_settings(shop.settings),
        engaged=engaged,
        consents=consents,
    )
    if swept:
        before = _episodes_before(session, shop_id, live.name, start)
        facts.subjects = _swept_subjects(live, facts, before, start, end, sweep_every)
        if draft is not None:
            facts.draft_subjects = _swept_subjects(draft, facts, before, start, end, sweep_every)
    return facts


def _episodes_before(
    session: Session, shop_id: int, workflow: str, start: datetime
) -> dict[str, list[tuple[datetime, datetime | None]]]:
    """The workflow's stored episodes enrolled before ``start``, by subject: (enrolled,
    ended or None while running)."""
    found: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for subject, enrolled, ended in session.execute(
        select(Episode.subject, Episode.enrolled_at, Episode.ended_at).where(
            Episode.shop_id == shop_id, Episode.workflow == workflow, Episode.enrolled_at < start
        )
    ):
        found.setdefault(subject, []).append((enrolled, ended))
    return found


def _longest_run(workflow: Workflow, start: datetime) -> datetime:
    """When an episode enrolled at ``start`` ends at the latest: each step after the longest
    of its delays (an A/B variant's own included; a later step counts from the latest)."""
    moments, latest = {"enrollment": start}, start
    for step in workflow.steps:
        delays = [step.delay, *(v.delay for v in step.variants if v.delay is not None)]
        due = max(
            step_due_at(delay, {delay.from_: moments.get(delay.from_, start)}) for delay in delays
        )
        moments["previous_step"], latest = due, max(latest, due)
    return latest


def _swept_subjects(
    workflow: Workflow,
    facts: StoredFacts,
    before: dict[str, list[tuple[datetime, datetime | None]]],
    start: datetime,
    end: datetime,
    every: timedelta,
) -> list[Subject]:
    """Whom the workflow's sweep would have enrolled, run every ``every`` over the window."""
    people = [
        Person(
            key,
            customer.email,
            customer.created_at,
            facts.orders.get(key, ()),
            facts.engaged.get(key, ()),
        )
        for key, customer in facts.customers.items()
    ]
    runs_for = _longest_run(workflow, start) - start
    subjects = []
    for one in swept(workflow, people, before, runs_for, start, end, every):
        order = None
        if one.subject != one.customer:  # about an order of theirs
            order = next(o for o in facts.orders[one.customer] if o.id == one.subject)
        subjects.append(
            Subject(
                one.subject,
                one.customer,
                facts.customers[one.customer].email,
                one.at,
                one.anchors,
                order=order,
                anchor_at=one.anchor_at,
            )
        )
    return subjects


def _check_replayable(workflow: Workflow) -> None:
    trigger = workflow.trigger
    if trigger.sweep not in REPLAYED_SWEEPS and trigger.event not in (
        ev.CHECKOUT_UPDATED,
        ev.ORDER_PLACED,
        ev.ORDER_FULFILLED,
        ev.CUSTOMER_SUBSCRIBED,
    ):
        started_by = f"the {trigger.sweep} sweep" if trigger.sweep else f"{trigger.event} events"
        raise BacktestUnsupported(
            f"{workflow.name} is started by {started_by}; a backtest replays checkout, "
            "order and subscription triggers and the inactive and reorder sweeps"
        )
    if catalog_reads(workflow)[1]:
        raise BacktestUnsupported(
            f"{workflow.name} reads the customer's history of products, which a backtest "
            "does not replay"
        )
    if needs_browsing(workflow):
        raise BacktestUnsupported(f"{workflow.name} reads storefront browsing, not replayed")


def _subjects(
    session: Session,
    shop_id: int,
    workflow: Workflow,
    by_email: dict[str | None, str],
    start: datetime,
    end: datetime,
) -> list[Subject]:
    """What the trigger names in the window, in the order it happened."""
    found: list[Subject] = []
    event = workflow.trigger.event
    if event == ev.CHECKOUT_UPDATED:
        activity = CheckoutRow.updated_at
        for row in session.execute(
            select(CheckoutRow.__table__).where(
                CheckoutRow.shop_id == shop_id,
                CheckoutRow.email.is_not(None),
                activity >= start,
                activity <= end,
            )
        ):
            at = row.updated_at or row.created_at
            if at is None or not row.email:
                continue
            checkout = checkout_fact(row)
            customer = row.customer_external_id or by_email.get(normal_email(row.email))
            found.append(
                Subject(
                    row.token,
                    customer or guest_key(row.email),
                    row.email,
                    at,
                    {"checkout_activity": at},
                    checkout=checkout,
                )
            )
    elif event in (ev.ORDER_PLACED, ev.ORDER_FULFILLED):
        moment = OrderRow.created_at if event == ev.ORDER_PLACED else OrderRow.fulfilled_at
        for placed_row in session.execute(
            select(OrderRow.__table__).where(
                OrderRow.shop_id == shop_id, moment >= start, moment <= end
            )
        ):
            if not (placed_row.customer_external_id or placed_row.email):
                continue
            order = order_fact(placed_row)
            anchors = {"order_created": placed_row.created_at or start}
            if placed_row.fulfilled_at is not None:
                anchors["fulfillment"] = placed_row.fulfilled_at
            at = placed_row.created_at if event == ev.ORDER_PLACED else placed_row.fulfilled_at
            assert at is not None
            customer = placed_row.customer_external_id or guest_key(placed_row.email or "")
            found.append(
                Subject(
                    placed_row.external_id, customer, placed_row.email, at, anchors, order=order
                )
            )
    else:  # customer_subscribed: consent given in the window
        for person in session.execute(
            _CUSTOMER_COLUMNS.where(
                CustomerRow.shop_id == shop_id,
                CustomerRow.accepts_marketing.is_(True),
                CustomerRow.email.is_not(None),
            )
        ):
            at = person.consent_updated_at or person.created_at
            if at is None or not start <= at <= end:
                continue
            found.append(Subject(person.external_id, person.external_id, person.email, at, {}))
    found.sort(key=lambda s: s.at)
    return found


# an order of the history without its line items, as the worker reads one
_ORDER_COLUMNS = select(*HISTORY_COLUMNS)


_CUSTOMER_COLUMNS = select(
    CustomerRow.external_id,
    CustomerRow.email,
    CustomerRow.first_name,
    CustomerRow.last_name,
    CustomerRow.accepts_marketing,
    CustomerRow.consent_updated_at,
    CustomerRow.tags,
    CustomerRow.mean_days_between_orders,
    CustomerRow.last_engaged_at,
    CustomerRow.timezone,
    CustomerRow.unsubscribed_at,
    CustomerRow.created_at,
    CustomerRow.updated_at,
)
