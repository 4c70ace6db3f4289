"""A step's email as the settings page previews it: rendered by the server, sent nowhere.

The preview is for the workflow's most recently enrolled customer, with their own cart or
order, or for a made-up sample customer when it has none (or the page asks for one). Its
links carry no customer's signed token and its unsubscribe link unsubscribes nobody: the
merchant clicking around a preview is never taken for the customer.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.emails.designs import DESIGNS
from plugin.emails.render import EDITABLE, email_blocks, render_email
from plugin.emails.sample import PREVIEW_TOKEN, sample_context, sample_discount
from plugin.pipeline.episode_facts import facts_for
from plugin.pipeline.outbox import Sender, email_context
from plugin.pipeline.product_picks import product_context
from plugin.services import Services
from plugin.shop_settings.policies import postal_address, shop_settings
from plugin.shop_settings.workflows import ShopWorkflow
from plugin.storage.batch import Batch
from plugin.storage.models import Episode, Shop
from rules.email_content import email_params_errors
from rules.validation import NOT_TRANSACTIONAL, PROMOTIONAL_SOURCES

SENDGRID_TEMPLATE_ID = re.compile(r"^d-[0-9a-fA-F]{32}$")
# the built-in emails a workflow step may send, by name
CUSTOMER_TEMPLATES = sorted(EDITABLE)


def email_errors(definition: dict[str, Any]) -> list[str]:
    """What rules cannot know: built-in template names and SendGrid template ids, and, in
    a transactional workflow, built-in designs that show an offer or recommendations."""
    errors = []
    transactional = definition.get("category") == "transactional"
    for where, params in _email_params(definition):
        errors += _template_errors(where, params)
        if transactional and not params.get("blocks") and _promotes(params.get("template")):
            errors.append(f"{where}.template: {NOT_TRANSACTIONAL}")
    return errors


def _promotes(template: object) -> bool:
    """Whether a built-in design shows a discount code or recommended products."""
    design = DESIGNS.get(template) if isinstance(template, str) else None
    return design is not None and any(
        block.get("type") == "discount"
        or (block.get("type") == "products" and block.get("source") in PROMOTIONAL_SOURCES)
        for block in design.blocks
    )


def _template_errors(where: str, params: dict[str, Any]) -> list[str]:
    errors = []
    template = params.get("template")
    if isinstance(template, str) and template not in EDITABLE:
        errors.append(
            f"{where}.template: one of the built-in templates ({', '.join(CUSTOMER_TEMPLATES)})"
        )
    template_id = params.get("template_id")
    if template_id is not None and not (
        isinstance(template_id, str) and SENDGRID_TEMPLATE_ID.match(template_id)
    ):
        errors.append(f"{where}.template_id: a SendGrid dynamic template id, d- and 32 hex")
    return errors


def _email_params(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every send_email's params, with the path they are found at."""
    found = []
    steps = definition.get("steps")
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        actions = step.get("actions") if isinstance(step, dict) else None
        for j, action in enumerate(actions if isinstance(actions, list) else []):
            if isinstance(action, dict) and action.get("name") == "send_email":
                params = action.get("params")
                found.append(
                    (f"steps[{i}].actions[{j}].params", params if isinstance(params, dict) else {})
                )
    return found


@dataclass(frozen=True)
class StepEmail:
    """The email a step sends, as a draft holds it."""

    step_id: str
    path: str  # of its params: steps[i].actions[j].params
    params: dict[str, Any]
    actions: list[dict[str, Any]]


def find_step_email(definition: dict[str, Any], step_id: Any) -> StepEmail | None:
    """The (first) email of the step with that id (None: the first step that emails)."""
    steps = definition.get("steps")
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict) or step_id not in (None, step.get("id")):
            continue
        listed = step.get("actions")
        listed = listed if isinstance(listed, list) else []
        actions = [a for a in listed if isinstance(a, dict)]
        for j, action in enumerate(listed):
            if isinstance(action, dict) and action.get("name") == "send_email":
                params = action.get("params")
                return StepEmail(
                    step_id=str(step.get("id")),
                    path=f"steps[{i}].actions[{j}].params",
                    params=params if isinstance(params, dict) else {},
                    actions=actions,
                )
    return None


def preview_errors(email: StepEmail) -> list[str]:
    """What keeps a draft email from rendering as it would be sent, each with its path."""
    errors = _template_errors(email.path, email.params)
    if not isinstance(email.params.get("template"), str):
        errors.append(f"{email.path}.template: a built-in template's name")
    return errors + email_params_errors(email.params, email.path)


@dataclass(frozen=True)
class Preview:
    """A rendered preview, and whose it is."""

    subject: str
    preheader: str
    html: str
    text: str
    customer: dict[str, str]


def preview_email(
    session: Session,
    services: Services,
    shop: Shop,
    saved: ShopWorkflow,
    email: StepEmail,
    sample: bool = False,
) -> Preview:
    """Render a step's draft email for the workflow's latest customer, or a sample one."""
    now = services.now()
    app_url = str(services.settings["APP_URL"]).rstrip("/")
    episode = None if sample else _latest_episode(session, shop.id, saved.name)
    if episode is None:
        context = sample_context(shop, email.actions, now, app_url, saved.name, email.step_id)
        customer = {"kind": "sample", "label": "a sample customer"}
    else:
        facts = facts_for(Batch.of(session), episode, saved.workflow, now)
        settings = shop_settings(shop.settings)
        sender = Sender(
            app_url=app_url,
            secret_key=str(services.settings["SECRET_KEY"]),
            shop_name=settings.get("name") or shop.domain,
            shop_url=f"https://{shop.domain}",
            staff_email=None,
        )
        context = email_context(
            sender, shop, episode, saved.workflow, email.step_id, facts, token=PREVIEW_TOKEN
        )
        context.update(sample_discount(email.actions, now))
        blocks = email_blocks(str(email.params.get("template") or ""), email.params)
        context.update(
            product_context(Batch.of(session), shop.id, sender.shop_url, facts, blocks, now)
        )
        label = facts.customer.email or facts.customer.first_name or episode.customer_external_id
        customer = {"kind": "enrolled", "label": label}
    if saved.workflow.category == "marketing":
        context["unsubscribe_url"] = f"{app_url}/unsubscribe/preview"
    context["postal_address"] = postal_address(shop_settings(shop.settings))
    rendered = render_email(str(email.params["template"]), context, email.params)
    return Preview(rendered.subject, rendered.preheader, rendered.html, rendered.text, customer)


def _latest_episode(session: Session, shop_id: int, workflow: str) -> Episode | None:
    return session.scalars(
        select(Episode)
        .where(Episode.shop_id == shop_id, Episode.workflow == workflow)
        .order_by(Episode.enrolled_at.desc(), Episode.id.desc())
        .limit(1)
    ).first()


class PreviewLimit:
    """At most ``count`` previews per shop in any ``seconds``: the page asks as the merchant
    types (debounced), so this only stops a runaway script. Per process, like the
    storefront's buckets."""

    def __init__(self, count: int = 30, seconds: float = 10.0, max_shops: int = 10_000):
        self.count, self.seconds, self.max_shops = count, seconds, max_shops
        self._recent: OrderedDict[int, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, shop_id: int, now: float | None = None) -> float:
        """Count one preview; 0 when allowed, else the seconds until one is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = self._recent.pop(shop_id, None) or deque()
            while recent and recent[0] <= now - self.seconds:
                recent.popleft()
            wait = 0.0
            if len(recent) >= self.count:
                wait = recent[0] + self.seconds - now
            else:
                recent.append(now)
            self._recent[shop_id] = recent
            while len(self._recent) > self.max_shops:
                self._recent.popitem(last=False)
        return wait
