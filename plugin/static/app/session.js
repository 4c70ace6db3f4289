// Session tokens and the JSON API. Inside the Shopify admin App Bridge gives a fresh token
// for every call; opened directly, the page uses the id_token Shopify put in its URL, or in
// development (when the server says so) a token the server mints for this machine.
// A WooCommerce merchant's page has a cookie session instead (opened by the signed link from
// the plugin): the page then carries the store and its CSRF token, sent with every call.

const params = new URLSearchParams(window.location.search);
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";
const csrfToken = meta("nudge-csrf-token");
export const shop = params.get("shop") || meta("nudge-store");
const urlToken = params.get("id_token");
const devTokens =
  document.querySelector('meta[name="nudge-dev-session-tokens"]')?.content === "1";
let devToken = null; // {token, until}

function timeout(ms) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms));
}

export async function sessionToken() {
  if (window.shopify && typeof window.shopify.idToken === "function") {
    try {
      return await Promise.race([window.shopify.idToken(), timeout(4000)]);
    } catch {
      // not inside the admin after all: fall through
    }
  }
  if (devTokens && shop) {
    if (!devToken || devToken.until < Date.now()) {
      const response = await fetch(`/dev/session-token?shop=${encodeURIComponent(shop)}`);
      if (response.ok) {
        const body = await response.json();
        devToken = { token: body.token, until: Date.now() + (body.expires_in - 10) * 1000 };
      }
    }
    if (devToken) return devToken.token;
  }
  return urlToken;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
  get fieldErrors() {
    return this.body.errors || [];
  }
}

// First open after Shopify installed the app: trade the session token for the shop's
// offline token (POST /auth/session, token exchange). Idempotent; true when installed.
export async function install() {
  if (csrfToken) return false; // a WooCommerce store is connected from its own admin
  const token = await sessionToken();
  if (!token) return false;
  const response = await fetch("/auth/session", {
    method: "POST",
    headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
  });
  return response.ok;
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (csrfToken) {
    headers["X-CSRF-Token"] = csrfToken; // the session itself is the cookie
  } else {
    const token = await sessionToken();
    if (token) headers.Authorization = `Bearer ${token}`;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api${path}`, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
