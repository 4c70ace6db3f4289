"""Whether a skipped step was the merchant's own rule or a safeguard that blocked a send.

"As designed": a condition the merchant wrote did not hold (the cart was below the
threshold, an order came first), the workflow was switched off, or the customer is in the
holdout group the merchant chose. "Blocked": a send the rule wanted was stopped by a
safeguard Nudge keeps whatever the rule says — no marketing consent, a suppressed or
unsubscribed address, no address at all, the frequency cap.
"""

from __future__ import annotations

from rules.catalog import label_of

AS_DESIGNED = "as_designed"
BLOCKED = "blocked"

# conditions every marketing workflow carries as safeguards, by the variable they test
SAFEGUARD_VARIABLES = ("accepts_marketing", "suppressed", "has_email")
# what the worker itself writes when a safeguard stops a step whose conditions held
SAFEGUARD_REASONS = (
    "no email address",
    "address suppressed or unsubscribed",
    "frequency cap",
)


def skip_kind(reason: str) -> str:
    """AS_DESIGNED or BLOCKED for a skipped step's reason (as the worker wrote it, or as
    ``rules.evaluation.reason_group`` shortened it)."""
    safeguard_labels = tuple(label_of(name) for name in SAFEGUARD_VARIABLES)
    for part in reason.split("; "):
        if part.startswith(SAFEGUARD_REASONS) or part.startswith(safeguard_labels):
            return BLOCKED
    return AS_DESIGNED
