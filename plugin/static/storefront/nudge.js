/* Nudge storefront script: page and product views, the engagement overlay, topic signups.
 *
 * Install: <script src="https://APP/storefront/SHOP/nudge.js" defer></script>
 * (the Shopify theme app embed adds the same tag, with data-app-proxy="/apps/nudge").
 * The visitor id is a random first-party id (cookie and localStorage on the shop's own
 * domain); it identifies nobody. A customer is named only by a token Nudge signed:
 * ?nudge_t= on the links in Nudge's emails, or from the app proxy for a logged-in customer.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__nudgeStorefront) return;
  window.__nudgeStorefront = true;

  var base = script.src.replace(/\/nudge\.js(\?.*)?$/, ""); // .../storefront/<shop>
  var proxy = script.getAttribute("data-app-proxy");
  var VID = "nudge_vid";
  var TOKEN = "nudge_t";
  var SHOWN = "nudge_overlay_shown"; // sessionStorage: once per session
  var SUBSCRIBED = "nudge_subscribed"; // localStorage: never again for a subscriber

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
  var local = storage("localStorage");
  var session = storage("sessionStorage");
  var memory = {};
  function get(s, key) {
    return s ? s.getItem(key) : memory[key] || null;
  }
  function put(s, key, value) {
    if (s) s.setItem(key, value);
    else memory[key] = value;
  }

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([A-Za-z0-9_-]+)"));
    return match ? match[1] : null;
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
  var vid = visitorId();

  // A signed token in the URL (from an email link): keep it, and take it out of the
  // address bar so that a shared link does not identify someone else.
  (function takeToken() {
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
  })();

  function send(path, body) {
    body.vid = vid;
    var token = get(local, TOKEN);
    if (token) body.t = token;
    return fetch(base + path, {
      method: "POST",
      // text/plain keeps this a simple cross-origin request (no preflight)
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body),
      keepalive: true,
      credentials: "omit",
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

  function identify() {
    if (!proxy || get(local, TOKEN)) return Promise.resolve();
    return fetch(proxy.replace(/\/$/, "") + "/identity", { credentials: "same-origin" })
      .then(function (r) {
        return r.ok ? r.json() : {};
      })
      .then(function (data) {
        if (data && data.t) put(local, TOKEN, data.t);
      })
      .catch(function () {});
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
      want_overlay: !get(session, SHOWN) && !get(local, SUBSCRIBED),
    };
    if (product) body.product_id = product;
    return send("/events", body).then(function (result) {
      var data = result.data || {};
      renderEmbeddedForms(data.topics || []);
      if (data.overlay) scheduleOverlay(data.overlay, data.topics || []);
    });
  }

  // --- the signup form (in the overlay, or wherever the theme puts data-nudge-signup) ---

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) node.setAttribute(key, attrs[key]);
    if (text) node.textContent = text;
    return node;
  }

  function signupForm(topics, preset, buttonText, done) {
    var form = el("form", { class: "nudge-signup", novalidate: "" });
    var email = el("input", {
      type: "email",
      name: "email",
      required: "",
      placeholder: "you@example.com",
      "aria-label": "Email address",
      autocomplete: "email",
    });
    form.appendChild(email);
    var topic = null;
    if (preset) {
      topic = el("input", { type: "hidden", name: "topic", value: preset });
      form.appendChild(topic);
    } else if (topics.length) {
      topic = el("select", { name: "topic", "aria-label": "Topic" });
      topics.forEach(function (name) {
        topic.appendChild(el("option", { value: name }, name.replace(/[-_]/g, " ")));
      });
      form.appendChild(topic);
    }
    var label = el("label", { class: "nudge-consent" });
    var consent = el("input", { type: "checkbox", name: "consent", required: "" });
    label.appendChild(consent);
    label.appendChild(document.createTextNode(" Yes, email me. I can unsubscribe at any time."));
    form.appendChild(label);
    form.appendChild(el("button", { type: "submit" }, buttonText || "Sign me up"));
    var message = el("p", { class: "nudge-message", role: "status" });
    form.appendChild(message);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!email.value || !consent.checked) {
        message.textContent = "Please enter your email and tick the box.";
        return;
      }
      var body = { email: email.value, consent: true };
      if (topic && topic.value) body.topic = topic.value;
      send("/signup", body).then(function (result) {
        if (result.status === 202 || result.status === 200) {
          put(local, SUBSCRIBED, "1");
          message.textContent =
            result.status === 202
              ? "Almost done: check your inbox to confirm."
              : "Thank you, you are subscribed.";
          form.setAttribute("data-state", "sent");
          if (done) done();
        } else {
          message.textContent = (result.data && result.data.error) || "Please try again later.";
        }
      });
    });
    return form;
  }

  function renderEmbeddedForms(topics) {
    var slots = document.querySelectorAll("[data-nudge-signup]:not([data-nudge-ready])");
    Array.prototype.forEach.call(slots, function (slot) {
      slot.setAttribute("data-nudge-ready", "1");
      slot.appendChild(signupForm(topics, slot.getAttribute("data-topic"), null, null));
    });
  }

  // --- the overlay -------------------------------------------------------------------

  var STYLE =
    "#nudge-overlay{position:fixed;inset:0;background:rgba(17,24,39,.45);display:flex;" +
    "align-items:center;justify-content:center;z-index:2147483000;font-family:inherit}" +
    "#nudge-overlay .nudge-box{background:#fff;color:#111827;max-width:26rem;width:90%;" +
    "padding:1.5rem;border-radius:.75rem;box-shadow:0 10px 30px rgba(0,0,0,.25);position:relative}" +
    "#nudge-overlay .nudge-close{position:absolute;top:.5rem;right:.75rem;border:0;" +
    "background:none;font-size:1.5rem;cursor:pointer}" +
    ".nudge-signup{display:flex;flex-direction:column;gap:.5rem}" +
    ".nudge-signup input,.nudge-signup select,.nudge-signup button{font:inherit;padding:.5rem}" +
    ".nudge-signup button{background:#111827;color:#fff;border:0;border-radius:.4rem}";

  function scheduleOverlay(config, topics) {
    var shown = false;
    function show() {
      if (shown || get(session, SHOWN) || get(local, SUBSCRIBED)) return;
      shown = true;
      put(session, SHOWN, "1");
      send("/events", { type: "overlay_shown" });
      renderOverlay(config, topics);
    }
    var delay = Math.max(0, Number(config.delay_seconds) || 0) * 1000;
    window.setTimeout(show, delay);
    if (config.exit_intent) {
      document.addEventListener("mouseout", function (event) {
        if (!event.relatedTarget && event.clientY <= 0) show();
      });
    }
  }

  function renderOverlay(config, topics) {
    var style = el("style");
    style.textContent = STYLE;
    document.head.appendChild(style);
    var overlay = el("div", {
      id: "nudge-overlay",
      role: "dialog",
      "aria-modal": "true",
      "aria-labelledby": "nudge-headline",
    });
    var box = el("div", { class: "nudge-box" });
    var close = el("button", { type: "button", class: "nudge-close", "aria-label": "Close" }, "×");
    close.addEventListener("click", function () {
      overlay.remove();
    });
    box.appendChild(close);
    box.appendChild(el("h2", { id: "nudge-headline" }, config.headline || ""));
    if (config.text) box.appendChild(el("p", { class: "nudge-text" }, config.text));
    if (config.offer) box.appendChild(el("p", { class: "nudge-offer" }, config.offer));
    box.appendChild(signupForm(topics, null, config.button, null));
    overlay.appendChild(box);
    document.body.appendChild(overlay);
  }

  identify().then(track).catch(function () {});
})();
