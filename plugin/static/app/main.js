// Start the settings page: fetch the catalog, the workflows and the shop's settings with the
// session token, then build one card per workflow and the shop-wide card.

import { api, install, shop } from "./session.js";
import { CustomerCard } from "./customer_card.js";
import { FailedCard } from "./failed_card.js";
import { h } from "./dom.js";
import { SettingsCard } from "./settings_card.js";
import { TopicCard } from "./topic_card.js";
import { WorkflowCard } from "./workflow_card.js";

const content = document.getElementById("content");
const page = document.getElementById("app");
const toastEl = document.getElementById("toast");
let toastTimer = null;

function toast(message) {
  if (window.shopify?.toast?.show) {
    window.shopify.toast.show(message);
    return;
  }
  toastEl.textContent = message;
  toastEl.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (toastEl.hidden = true), 4000);
}

function unauthorized(error) {
  const installFailed = notInstalled(error);
  return h(
    "div",
    { class: "card empty-state", dataset: { role: "signed-out" } },
    h("h2", {}, installFailed ? "Nudge is not installed on this shop" : "Open Nudge from your Shopify admin"),
    h("p", { class: "subdued" }, installFailed
      ? "Install the app from the Shopify admin, then open it again."
      : "This page needs a Shopify session. Open it from Apps in your store's admin."),
  );
}

// The app's settings a live shop should not run with (no SendGrid key, a local app URL...):
// said first, so no number below is read as mail that went out.
function settingWarnings(warnings) {
  if (!warnings?.length) return [];
  return [h(
    "div",
    { class: "banner warning", role: "alert", dataset: { role: "setting-warnings" } },
    h("strong", {}, "Check these settings before relying on Nudge"),
    h("ul", {}, warnings.map((w) => h("li", { dataset: { setting: w.setting } }, w.message))),
  )];
}

// Scopes the app asks for that the shop has not granted: what needs them (consent written
// back, discount codes, tags) fails until the merchant approves them. Inside the admin App
// Bridge asks at once; elsewhere the link opens Shopify's own page for it.
function missingScopes(access) {
  const missing = access?.missing_scopes || [];
  if (!missing.length) return [];
  async function grant(event) {
    if (typeof window.shopify?.scopes?.request !== "function") return; // the link does it
    event.preventDefault();
    try {
      const answer = await window.shopify.scopes.request(missing);
      if (answer?.result === "granted-all") {
        await install(); // the new token carries them
        window.location.reload();
      }
    } catch {
      if (access.reauthorize_url) window.open(access.reauthorize_url, "_top");
    }
  }
  return [h(
    "div",
    { class: "banner critical", role: "alert", dataset: { role: "missing-scopes" } },
    h("strong", {}, "Nudge needs your approval for more access"),
    h("p", {}, `Not granted: ${missing.join(", ")}. Until you approve, Nudge cannot write `
      + "unsubscribes back to Shopify, create discount codes or tag customers where these are needed."),
    access.reauthorize_url
      ? h("a", { href: access.reauthorize_url, target: "_top", onclick: grant, dataset: { role: "reauthorize" } }, "Review and approve access")
      : h("p", {}, "Open Nudge from Apps in your Shopify admin to approve it."),
  )];
}

function load() {
  return Promise.all([
    api("GET", "/catalog"),
    api("GET", "/workflows"),
    api("GET", "/settings"),
    api("GET", "/outbox?state=failed&limit=100"),
    // results are worth showing, not worth failing the page for
    api("GET", "/report?days=30").catch(() => null),
  ]);
}

function notInstalled(error) {
  return error.status === 401 && /not installed/.test(error.body?.detail || "");
}

async function start() {
  if (shop) document.getElementById("shop-name").textContent = shop;
  try {
    let loaded;
    let exchanged = false;
    try {
      loaded = await load();
    } catch (error) {
      // opened for the first time after Shopify installed the app: finish the install
      if (!notInstalled(error) || !(await install())) throw error;
      exchanged = true;
      loaded = await load();
    }
    if (!exchanged && loaded[2].access?.missing_scopes?.length && (await install())) {
      // the merchant may have approved them already: a new token says what it carries
      loaded[2] = await api("GET", "/settings");
    }
    const [catalog, { workflows }, { settings, warnings, delivery, access }, { messages: failed }, report] = loaded;
    const context = { catalog, toast, workflows, delivery, report };
    const cards = workflows.map((workflow) => new WorkflowCard(workflow, context));
    const settingsCard = new SettingsCard(settings, context);
    const topicsTitle = h("h2", { class: "section-title" }, "Topics");
    const topicCard = new TopicCard({
      ...context,
      added: (workflow) => {
        const card = new WorkflowCard(workflow, context);
        cards.push(card);
        topicsTitle.before(card.element);
      },
    });
    content.replaceChildren(
      ...missingScopes(access),
      ...settingWarnings(warnings),
      h("h2", { class: "section-title" }, "Workflows"),
      ...cards.map((card) => card.element),
      topicsTitle,
      topicCard.element,
      h("h2", { class: "section-title" }, "Customers"),
      new CustomerCard(context).element,
      h("h2", { class: "section-title" }, "Delivery"),
      new FailedCard(failed, context).element,
      h("h2", { class: "section-title" }, "Settings"),
      settingsCard.element,
    );
    window.addEventListener("beforeunload", (event) => {
      if (cards.some((card) => card.dirty) || settingsCard.dirty) event.preventDefault();
    });
  } catch (error) {
    content.replaceChildren(
      error.status === 401
        ? unauthorized(error)
        : h("div", { class: "banner critical" }, `Nudge could not load: ${error.message}`),
    );
  } finally {
    page.removeAttribute("aria-busy");
    page.dataset.ready = "true";
  }
}

start();
