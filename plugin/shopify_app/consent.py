"""Email marketing consent written back to Shopify: ``customerEmailMarketingConsentUpdate``.

Shopify keeps the consent record with the latest ``consentUpdatedAt``, so a write that
arrives late (retried after an outage) never overrides a newer change made elsewhere.
A contact Nudge knows only by address may still be a Shopify customer (a checkout made
one): it is looked up by exact address first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.shopify.admin_api import AdminClient
from plugin.shopify_app.shop_actions import customer_gid

CONSENT_MUTATION = """
mutation NudgeConsent($input: CustomerEmailMarketingConsentUpdateInput!) {
  customerEmailMarketingConsentUpdate(input: $input) {
    customer { id }
    userErrors { field code message }
  }
}
"""

CUSTOMER_BY_EMAIL = """
query NudgeCustomerByEmail($query: String!) {
  customers(first: 1, query: $query) { nodes { id email } }
}
"""

# how the consent was given, in M3AAWG's words as Shopify takes them
OPT_IN_LEVELS = frozenset({"SINGLE_OPT_IN", "CONFIRMED_OPT_IN"})


def consent_input(
    gid: str, subscribed: bool, at: datetime, opt_in_level: str | None = None
) -> dict[str, Any]:
    """The mutation's ``CustomerEmailMarketingConsentUpdateInput``."""
    consent: dict[str, Any] = {
        "marketingState": "SUBSCRIBED" if subscribed else "UNSUBSCRIBED",
        "consentUpdatedAt": at.isoformat(),
    }
    if subscribed and opt_in_level in OPT_IN_LEVELS:
        consent["marketingOptInLevel"] = opt_in_level
    return {"customerId": gid, "emailMarketingConsent": consent}


def find_customer(client: AdminClient, email: str) -> str | None:
    """The id of the shop's customer with exactly this address, if there is one."""
    quoted = email.replace("\\", "\\\\").replace('"', '\\"')
    found = client.query(CUSTOMER_BY_EMAIL, {"query": f'email:"{quoted}"'})
    for node in (found.get("customers") or {}).get("nodes") or []:
        if isinstance(node, dict) and str(node.get("email") or "").lower() == email.lower():
            return str(node["id"])
    return None


def write_consent(
    client: AdminClient,
    customer_external_id: str | None,
    email: str,
    subscribed: bool,
    at: datetime,
    opt_in_level: str | None = None,
) -> str | None:
    """Set the customer's email marketing consent; return their id, None when the shop
    has no customer with this address (nothing to write)."""
    gid = customer_gid(customer_external_id) or find_customer(client, email)
    if gid is None:
        return None
    client.mutate(
        CONSENT_MUTATION,
        {"input": consent_input(gid, subscribed, at, opt_in_level)},
        "customerEmailMarketingConsentUpdate",
    )
    return gid
