/* Nudge's overlay and signup forms, loaded by nudge.js (after consent) on a page that shows
 * the overlay or has a slot for a form: an element with data-nudge-signup, and optionally
 * data-topic="NAME" to sign up for that topic.
 */
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var key in attrs || {}) node.setAttribute(key, attrs[key]);
    if (text) node.textContent = text;
    return node;
  }

  function signupForm(nudge, topics, preset, buttonText) {
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
      nudge.send("/signup", body).then(function (result) {
        if (result.status === 202 || result.status === 200) {
          nudge.subscribed();
          message.textContent =
            result.status === 202
              ? "Almost done: check your inbox to confirm."
              : "Thank you, you are subscribed.";
          form.setAttribute("data-state", "sent");
        } else {
          message.textContent = (result.data && result.data.error) || "Please try again later.";
        }
      });
    });
    return form;
  }

  function renderEmbeddedForms(nudge, topics) {
    var slots = document.querySelectorAll("[data-nudge-signup]:not([data-nudge-ready])");
    Array.prototype.forEach.call(slots, function (slot) {
      slot.setAttribute("data-nudge-ready", "1");
      slot.appendChild(signupForm(nudge, topics, slot.getAttribute("data-topic"), null));
    });
  }

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

  function scheduleOverlay(nudge, config, topics) {
    var shown = false;
    function show() {
      if (shown || nudge.seen()) return;
      shown = true;
      nudge.shown();
      nudge.send("/events", { type: "overlay_shown" });
      renderOverlay(nudge, config, topics);
    }
    var delay = Math.max(0, Number(config.delay_seconds) || 0) * 1000;
    window.setTimeout(show, delay);
    if (config.exit_intent) {
      document.addEventListener("mouseout", function (event) {
        if (!event.relatedTarget && event.clientY <= 0) show();
      });
    }
  }

  function renderOverlay(nudge, config, topics) {
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
    box.appendChild(signupForm(nudge, topics, null, config.button));
    overlay.appendChild(box);
    document.body.appendChild(overlay);
  }

  // nudge: what nudge.js shares (send, seen, shown, subscribed); overlay: the app's overlay
  // settings when it is offered on this page, else null; topics: the shop's signup topics.
  window.__nudgeForms = function (nudge, overlay, topics) {
    renderEmbeddedForms(nudge, topics);
    if (overlay) scheduleOverlay(nudge, overlay, topics);
  };
})();
