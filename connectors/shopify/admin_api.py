"""The one Shopify Admin GraphQL client: requests with timeouts, aware of query cost.

Shopify rate-limits GraphQL by calculated cost (a leaky bucket per app and shop). A
throttled request is refused before it runs, so it is always safe to repeat: on a
``THROTTLED`` error the client waits until the bucket holds the query's cost again
(``extensions.cost.throttleStatus``), on HTTP 429 for ``Retry-After``, a bounded number of
times. Anything else is raised for the caller (the outbox retries with backoff):
``AdminApiError`` (``retryable`` when the request may be repeated later) or ``UserErrors``
when a mutation was refused for its input.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

TIMEOUT = (5.0, 30.0)  # connect, read
MAX_THROTTLE_RETRIES = 4
MAX_WAIT_SECONDS = 60.0  # never sleep longer than this for one throttle
DEFAULT_RETRY_AFTER = 2.0


class AdminApiError(Exception):
    """A request the Admin API did not carry out."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class UserErrors(AdminApiError):
    """A mutation refused for its input (``userErrors``); repeating it will not help."""

    def __init__(self, operation: str, errors: list[dict[str, Any]]):
        details = "; ".join(
            f"{'.'.join(map(str, e.get('field') or [])) or '-'}: {e.get('message')}" for e in errors
        )
        super().__init__(f"{operation}: {details}")
        self.errors = errors


def throttle_wait(cost: Mapping[str, Any] | None) -> float:
    """Seconds until the bucket again holds the query's requested cost."""
    cost = cost or {}
    status = cost.get("throttleStatus") or {}
    try:
        requested = float(cost.get("requestedQueryCost") or 0)
        available = float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    if rate <= 0:
        return DEFAULT_RETRY_AFTER
    return min(MAX_WAIT_SECONDS, max(1.0, math.ceil((requested - available) / rate)))


def _retry_after(response: requests.Response) -> float:
    try:
        return min(MAX_WAIT_SECONDS, max(0.0, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return DEFAULT_RETRY_AFTER


class AdminClient:
    """GraphQL Admin API calls for one shop with one access token."""

    def __init__(
        self,
        shop_domain: str,
        access_token: str,
        api_version: str,
        *,
        http: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,  # tests pass one that records
        max_throttle_retries: int = MAX_THROTTLE_RETRIES,
    ):
        self.url = f"https://{shop_domain}/admin/api/{api_version}/graphql.json"
        self._token = access_token
        self._http = http or requests.Session()
        self._sleep = sleep if sleep is not None else time.sleep
        self._max_retries = max_throttle_retries

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run a query or mutation and return its ``data``; waits out throttling."""
        for attempt in range(self._max_retries + 1):
            wait = self._attempt(document, variables or {})
            if isinstance(wait, dict):
                return wait
            if attempt == self._max_retries:
                break
            self._sleep(wait)
        raise AdminApiError("throttled: still rate-limited after retries", retryable=True)

    def mutate(self, document: str, variables: Mapping[str, Any], operation: str) -> dict[str, Any]:
        """Run a mutation and return its payload; raise ``UserErrors`` if it has any."""
        payload = self.query(document, variables).get(operation)
        if not isinstance(payload, dict):
            raise AdminApiError(f"{operation}: no payload in the response")
        errors = payload.get("userErrors") or []
        if errors:
            raise UserErrors(operation, errors)
        return payload

    def _attempt(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any] | float:
        """The response's data, or how long to wait before asking again."""
        try:
            response = self._http.post(
                self.url,
                json={"query": document, "variables": dict(variables)},
                headers={
                    "X-Shopify-Access-Token": self._token,
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise AdminApiError(f"Admin API unreachable: {exc}", retryable=True) from exc
        if response.status_code == 429:
            return _retry_after(response)
        if response.status_code in (401, 403):
            raise AdminApiError(
                f"Admin API refused the token ({response.status_code})",
                status=response.status_code,
            )
        if response.status_code >= 500:
            raise AdminApiError(
                f"Admin API error {response.status_code}",
                retryable=True,
                status=response.status_code,
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise AdminApiError(
                f"Admin API answered {response.status_code} without JSON",
                status=response.status_code,
            ) from exc
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            if _throttled(errors):
                return throttle_wait((body.get("extensions") or {}).get("cost"))
            raise AdminApiError(f"GraphQL errors: {_messages(errors)}", status=response.status_code)
        if response.status_code != 200 or not isinstance(body.get("data"), dict):
            raise AdminApiError(
                f"Admin API answered {response.status_code}", status=response.status_code
            )
        return dict(body["data"])


def _throttled(errors: Any) -> bool:
    if not isinstance(errors, list):
        return False
    return any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    )


def _messages(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
    return str(errors)
