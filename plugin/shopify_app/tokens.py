"""Shop access tokens: obtained, stored encrypted, refreshed before they expire.

Shopify's token endpoint (``POST https://{shop}/admin/oauth/access_token``) serves three
grants here: token exchange (a session token becomes an offline token: embedded install),
the authorization code (non-embedded install), and ``refresh_token``. Nudge always asks
for an *expiring* offline token (``expiring=1``): it lives about an hour and comes with a
refresh token; each refresh returns a new pair, and the new pair replaces the old.

The refresh token itself lapses 90 days after it was issued: a shop whose token nobody
used for that long would lose access. ``renew_due`` (a periodic task of the embedded
worker and of Celery beat) renews every pair within ``RENEW_AHEAD`` of lapsing, and every
pair flagged after the shop granted more scopes (app/scopes_update), so that it carries them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import or_, select

from plugin.services import Services
from plugin.shopify_app.crypto import InvalidToken, TokenCipher
from plugin.storage.models import Shop

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 20.0)
# refresh this long before expiry, so a token never runs out in the middle of a call
REFRESH_MARGIN = timedelta(minutes=5)
# renew a pair this long before its refresh token lapses: a week of daily chances, should
# Shopify be down or the app stopped for a while
RENEW_AHEAD = timedelta(days=7)

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"


class TokenError(Exception):
    """Shopify gave no token. ``retryable``: a later try may work (network, 5xx, 429)."""

    def __init__(self, message: str, *, retryable: bool = False, error: str | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.error = error  # the OAuth error code, e.g. invalid_grant


@dataclass(frozen=True)
class Grant:
    """What the token endpoint returned."""

    access_token: str
    scopes: str | None
    expires_at: datetime | None  # None: a non-expiring token
    refresh_token: str | None
    refresh_expires_at: datetime | None


def token_url(shop_domain: str) -> str:
    return f"https://{shop_domain}/admin/oauth/access_token"


def _request(shop_domain: str, body: dict[str, Any], now: datetime) -> Grant:
    try:
        response = requests.post(
            token_url(shop_domain),
            json=body,
            headers={"Accept": "application/json"},
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        raise TokenError(f"token endpoint unreachable: {exc}", retryable=True) from exc
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        detail = body.get("error_description") or body.get("error") or response.text[:200]
        raise TokenError(
            f"token endpoint answered {response.status_code}: {detail}",
            retryable=response.status_code == 429 or response.status_code >= 500,
            error=str(body["error"]) if body.get("error") else None,
        )
    try:
        data = response.json()
        access_token = str(data["access_token"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("token endpoint answered without an access token") from exc

    def after(seconds: Any) -> datetime | None:
        return now + timedelta(seconds=int(seconds)) if seconds else None

    return Grant(
        access_token=access_token,
        scopes=data.get("scope"),
        expires_at=after(data.get("expires_in")),
        refresh_token=data.get("refresh_token"),
        refresh_expires_at=after(data.get("refresh_token_expires_in")),
    )


def exchange_session_token(
    shop_domain: str, session_token: str, api_key: str, secret: str, now: datetime
) -> Grant:
    """Token exchange: the embedded app's session token for an expiring offline token."""
    return _request(
        shop_domain,
        {
            "client_id": api_key,
            "client_secret": secret,
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": session_token,
            "subject_token_type": ID_TOKEN,
            "requested_token_type": OFFLINE_TOKEN,
            "expiring": 1,
        },
        now,
    )


def exchange_code(shop_domain: str, code: str, api_key: str, secret: str, now: datetime) -> Grant:
    """Authorization-code grant (non-embedded install), for an expiring offline token."""
    return _request(
        shop_domain,
        {"client_id": api_key, "client_secret": secret, "code": code, "expiring": 1},
        now,
    )


def refresh(
    shop_domain: str, refresh_token: str, api_key: str, secret: str, now: datetime
) -> Grant:
    """A new access token and a new refresh token for the current refresh token."""
    return _request(
        shop_domain,
        {
            "client_id": api_key,
            "client_secret": secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
        now,
    )


def cipher(services: Services) -> TokenCipher:
    return TokenCipher(services.settings["SECRET_KEY"])


def store(shop: Shop, grant: Grant, cipher: TokenCipher) -> None:
    """Keep a grant on the shop row, encrypted; the legacy plaintext column is cleared."""
    shop.access_token = None
    shop.access_token_encrypted = cipher.encrypt(grant.access_token)
    shop.access_token_expires_at = grant.expires_at
    shop.refresh_token_encrypted = (
        cipher.encrypt(grant.refresh_token) if grant.refresh_token else None
    )
    shop.refresh_token_expires_at = grant.refresh_expires_at
    shop.token_renewal_due = False
    if grant.scopes is not None:
        shop.scopes = grant.scopes


def store_plain(shop: Shop, access_token: str, cipher: TokenCipher) -> None:
    """Keep a non-expiring token given by hand (`nudge shop add --token`), encrypted."""
    store(shop, Grant(access_token, None, None, None, None), cipher)


def revoke(shop: Shop) -> None:
    """Forget every credential the shop gave us (app/uninstalled)."""
    shop.access_token = None
    shop.access_token_encrypted = None
    shop.access_token_expires_at = None
    shop.refresh_token_encrypted = None
    shop.refresh_token_expires_at = None
    shop.token_renewal_due = False


def has_credentials(shop: Shop) -> bool:
    """Whether the shop gave Nudge an Admin API token (else its actions stay local)."""
    return bool(shop.access_token_encrypted)


def usable(shop: Shop, now: datetime) -> bool:
    """A token that works now, or one the refresh token can still renew."""
    if not shop.active or not shop.access_token_encrypted:
        return False
    if shop.access_token_expires_at is None or shop.access_token_expires_at > now:
        return True
    return bool(shop.refresh_token_encrypted) and (
        shop.refresh_token_expires_at is None or shop.refresh_token_expires_at > now
    )


def access_token(services: Services, shop_id: int, now: datetime) -> str:
    """The shop's Admin API token, refreshed first when it is about to expire.

    The row is locked (PostgreSQL) while refreshing: the refresh token is single-use, so
    two workers must not both spend it. A refused refresh (the grant was revoked or the
    refresh token expired) forgets the credentials; the next session token re-installs.
    """
    box = cipher(services)
    with services.sessions() as session, session.begin():
        shop = session.scalar(select(Shop).where(Shop.id == shop_id).with_for_update())
        if shop is None or not shop.active or not shop.access_token_encrypted:
            raise TokenError("the shop has no Admin API token")
        expires = shop.access_token_expires_at
        renew_now = shop.token_renewal_due and bool(shop.refresh_token_encrypted)
        if not renew_now and (expires is None or expires - REFRESH_MARGIN > now):
            return _decrypt(box, shop.access_token_encrypted)
        if not shop.refresh_token_encrypted:
            if expires is not None and expires > now:
                return _decrypt(box, shop.access_token_encrypted)
            raise TokenError("the access token expired and there is no refresh token")
        try:
            return _refresh_locked(services, shop, box, now)
        except TokenError as exc:
            failure = exc  # leave the block normally: a revocation decided above commits
    raise failure


def _refresh_locked(services: Services, shop: Shop, box: TokenCipher, now: datetime) -> str:
    settings = services.settings
    try:
        grant = refresh(
            shop.domain,
            _decrypt(box, shop.refresh_token_encrypted or ""),
            settings.get("SHOPIFY_API_KEY") or "",
            settings.get("SHOPIFY_API_SECRET") or "",
            now,
        )
    except TokenError as exc:
        if exc.error == "invalid_grant":
            revoke(shop)  # this pair will never work again; a session token re-installs
        elif exc.retryable and shop.access_token_expires_at and shop.access_token_expires_at > now:
            return _decrypt(box, shop.access_token_encrypted or "")  # still valid a while
        raise
    store(shop, grant, box)
    return grant.access_token


def _decrypt(box: TokenCipher, ciphertext: str) -> str:
    try:
        return box.decrypt(ciphertext)
    except InvalidToken as exc:
        raise TokenError(
            "stored token cannot be decrypted (was NUDGE_SECRET_KEY changed?)"
        ) from exc


@dataclass
class Renewals:
    """What one renewal pass did."""

    renewed: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # shop domain -> why


def renewal_due(now: datetime):  # type: ignore[no-untyped-def]
    """Shops whose pair should be renewed now: its refresh token lapses within
    ``RENEW_AHEAD``, or the shop granted more scopes since it was issued."""
    return (
        Shop.active.is_(True),
        Shop.platform == "shopify",
        Shop.refresh_token_encrypted.is_not(None),
        or_(
            Shop.token_renewal_due.is_(True),
            Shop.refresh_token_expires_at <= now + RENEW_AHEAD,
        ),
    )


def renew_due(services: Services, now: datetime) -> Renewals:
    """Renew every shop's token pair that is due (see ``renewal_due``), one shop at a time.

    A pair Shopify refuses for good (``invalid_grant``) is forgotten, as on any refresh: the
    next session token re-installs. Any other failure leaves the pair for the next pass.
    """
    result = Renewals()
    with services.sessions() as session:
        due = session.execute(select(Shop.id, Shop.domain).where(*renewal_due(now))).all()
    for shop_id, domain in due:
        try:
            if renew(services, shop_id, now):
                result.renewed += 1
        except TokenError as exc:
            result.failed[domain] = str(exc)
            log.warning("token renewal for %s failed: %s", domain, exc)
    return result


def renew(services: Services, shop_id: int, now: datetime) -> bool:
    """Renew one shop's pair if it is still due once its row is locked (another worker
    may have just done it); True if renewed."""
    box = cipher(services)
    settings = services.settings
    with services.sessions() as session, session.begin():
        shop = session.scalar(
            select(Shop).where(Shop.id == shop_id, *renewal_due(now)).with_for_update()
        )
        if shop is None:
            return False
        try:
            grant = refresh(
                shop.domain,
                _decrypt(box, shop.refresh_token_encrypted or ""),
                settings.get("SHOPIFY_API_KEY") or "",
                settings.get("SHOPIFY_API_SECRET") or "",
                now,
            )
        except TokenError as exc:
            if exc.error != "invalid_grant":
                raise
            revoke(shop)  # this pair will never work again; a session token re-installs
            failure = exc  # leave the block normally: the revocation commits
        else:
            store(shop, grant, box)
            return True
    raise failure
