/* Nudge storefront script: page and product views. The overlay and the signup forms are in
 * nudge-overlay.js, loaded only on a page that shows one.
 *
 * Any site: <script src="https://APP/storefront/SHOP/nudge.js" defer></script>, and the
 * calls go to the app. On Shopify the theme app embed loads this file from Shopify's CDN and
 * renders #nudge-storefront, which names the app proxy (/apps/nudge: every call goes to the
 * shop's own domain, and Shopify signs it and names the logged-in customer) and carries the
 * theme editor's settings.
 *
 * Nothing is stored and nothing is sent before the visitor consents: on Shopify, when the
 * Customer Privacy API allows analytics and marketing; elsewhere when the site says so, with
 * window.nudgeConsent = true (set before this script), a "nudge:consent" event on document,
 * or the cookie its consent banner sets, named on the tag: data-consent-cookie="NAME" or
 * "NAME=TEXT" (the cookie's value must contain TEXT).
 *
 * The visitor id is a random first-party id (cookie and localStorage); it identifies nobody.
 * A customer is named only by a token Nudge signed (?nudge_t= on the links in its emails) or,
 * on Shopify, by the app proxy for the logged-in customer.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  // not twice on a page, and not in Shopify's theme editor (the merchant is no visitor)
  if (!script || window.__nudgeStorefront || (window.Shopify || {}).designMode) return;
  window.__nudgeStorefront = true;

  var embed = document.getElementById("nudge-storefront");
  var theme = embed ? embed.dataset : {};
  var base = embed
    ? (theme.appProxy || "/apps/nudge").replace(/\/$/, "")
    : script.src.replace(/\/nudge\.js(\?.*)?$/, ""); // https://APP/storefront/SHOP
  // SHOP may have a path (a WooCommerce store below the root of its host: example.com/shop)
  var overlaySrc = embed
    ? theme.overlaySrc
    : base.replace(/\/storefront\/.+$/, "/static/storefront/nudge-overlay.js");
  var VID = "nudge_vid";
  var TOKEN = "nudge_t";
  var SHOWN = "nudge_overlay_shown"; // sessionStorage: once per session
  var SUBSCRIBED = "nudge_subscribed"; // localStorage: never again for a subscriber
  var local, session, vid;
  var memory = {};

  // --- consent ---------------------------------------------------------------------------

  function whenConsented(start) {
    var started = false;
    function begin() {
      if (!started) {
        started = true;
        start();
      }
      return started;
    }
    if (embed) return shopifyConsent(begin);
    var rule = script.getAttribute("data-consent-cookie");
    function check() {
      if (window.nudgeConsent === false) forget();
      return (window.nudgeConsent === true || (rule && consentCookie(rule))) && begin();
    }
    document.addEventListener("nudge:consent", function () {
      window.nudgeConsent = true;
      check();
    });
    // a banner sets its cookie when the visitor clicks it, on this very page
    if (!check() && rule) {
      var timer = window.setInterval(function () {
        if (check()) window.clearInterval(timer);
      }, 1000);
    }
  }

  function shopifyConsent(begin) {
    var shopify = window.Shopify || {};
    function check() {
      var privacy = shopify.customerPrivacy;
      if (!privacy) return;
      if (privacy.analyticsProcessingAllowed() && privacy.marketingAllowed()) begin();
      else forget();
    }
    document.addEventListener("visitorConsentCollected", function (event) {
      var given = event.detail || {};
      if (given.analyticsAllowed && given.marketingAllowed) begin();
      else check();
    });
    if (shopify.customerPrivacy) check();
    else if (shopify.loadFeatures) {
      shopify.loadFeatures([{ name: "consent-tracking-api", version: "0.1" }], function (error) {
        if (!error) check();
      });
    }
  }

  function consentCookie(rule) {
    var at = rule.indexOf("=");
    var value = cookie(at < 0 ? rule : rule.slice(0, at), /[^;]*/);
    return value !== null && (at < 0 || decode(value).indexOf(rule.slice(at + 1)) >= 0);
  }

  // Consent refused or withdrawn: what an earlier consent left goes.
  function forget() {
    try {
      [VID, TOKEN, SUBSCRIBED].forEach(function (key) {
        window.localStorage.removeItem(key);
      });
    } catch (e) {
      /* no storage */
    }
    if (cookie(VID)) document.cookie = VID + "=; Max-Age=0; Path=/; SameSite=Lax";
  }

  // --- storage (after consent) -----------------------------------------------------------

  function storage(kind) {
    try {
      var s = window[kind];
      s.setItem("nudge_probe", "1");
      s.removeItem("nudge_probe");
      return s;
    } catch (e) {
      return null;
    }
  }
  function get(s, key) {
    return s ? s.getItem(key) : memory[key] || null;
  }
  function put(s, key, value) {
    if (s) s.setItem(key, value);
    else memory[key] = value;
  }

  function decode(text) {
    try {
      return decodeURIComponent(text);
    } catch (e) {
      return text;
    }
  }
  function cookie(name, pattern) {
    var escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    var found = document.cookie.match(
      new RegExp("(?:^|; )" + escaped + "=(" + (pattern || /[A-Za-z0-9_-]+/).source + ")")
    );
    return found ? found[1] : null;
  }

  function visitorId() {
    var id = get(local, VID) || cookie(VID);
    if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      id = Array.prototype.map
        .call(bytes, function (b) {
          return ("0" + b.toString(16)).slice(-2);
        })
        .join("");
    }
    put(local, VID, id);
    document.cookie = VID + "=" + id + "; Max-Age=31536000; Path=/; SameSite=Lax";
    return id;
  }

  // A signed token in the URL (from an email link): keep it, and take it out of the
  // address bar so that a shared link does not identify someone else.
  function takeToken() {
    try {
      var url = new URL(window.location.href);
      var token = url.searchParams.get(TOKEN);
      if (token) {
        put(local, TOKEN, token);
        url.searchParams.delete(TOKEN);
        window.history.replaceState(null, "", url.pathname + url.search + url.hash);
      }
    } catch (e) {
      /* an old browser: no token */
    }
  }

  // --- calls -----------------------------------------------------------------------------

  function send(path, body) {
    body.vid = vid;
    var token = get(local, TOKEN);
    if (token) body.t = token;
    return fetch(base + path, {
      method: "POST",
      // text/plain keeps a call to the app a simple cross-origin request (no preflight)
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body),
      keepalive: true,
      // the app proxy learns the logged-in customer from the shop's own session cookie
      credentials: embed ? "same-origin" : "omit",
    }).then(function (response) {
      return response.json().then(
        function (data) {
          return { status: response.status, data: data };
        },
        function () {
          return { status: response.status, data: {} };
        }
      );
    });
  }

  function productId() {
    var meta = window.ShopifyAnalytics && window.ShopifyAnalytics.meta;
    var id = meta && meta.product && meta.product.id;
    return id ? String(id) : null;
  }

  function track() {
    var product = productId();
    var body = {
      type: product || /^\/products\//.test(location.pathname) ? "product_view" : "page_view",
      path: location.pathname.slice(0, 512),
      title: (document.title || "").slice(0, 200),
      want_overlay: theme.overlayEnabled !== "false" && !seen(),
    };
    if (product) body.product_id = product;
    return send("/events", body).then(function (result) {
      var data = result.data || {};
      if (data.overlay || document.querySelector("[data-nudge-signup]")) {
        withForms(function (forms) {
          forms(shared, data.overlay && themed(data.overlay), data.topics || []);
        });
      }
    });
  }

  // The theme editor's delay and exit intent, where the merchant set them, over the app's.
  function themed(overlay) {
    if (/^\d+(\.\d+)?$/.test(theme.delaySeconds || "")) {
      overlay.delay_seconds = Number(theme.delaySeconds);
    }
    if (/^(true|false)$/.test(theme.exitIntent || "")) {
      overlay.exit_intent = theme.exitIntent === "true";
    }
    return overlay;
  }

  // --- the overlay and the signup forms (nudge-overlay.js) --------------------------------

  function seen() {
    return !!(get(session, SHOWN) || get(local, SUBSCRIBED));
  }
  var shared = {
    send: send,
    seen: seen,
    shown: function () {
      put(session, SHOWN, "1");
    },
    subscribed: function () {
      put(local, SUBSCRIBED, "1");
    },
  };

  function withForms(run) {
    if (window.__nudgeForms) return run(window.__nudgeForms);
    var tag = document.createElement("script");
    tag.src = overlaySrc;
    tag.async = true;
    tag.onload = function () {
      if (window.__nudgeForms) run(window.__nudgeForms);
    };
    document.head.appendChild(tag);
  }

  whenConsented(function () {
    local = storage("localStorage");
    session = storage("sessionStorage");
    vid = visitorId();
    takeToken();
    track().catch(function () {});
  });
})();
