// The customer view: one address, every workflow — enrolled or why not, each step's
// decision with each condition's value, each email's state, and the orders placed after
// an email (GET /api/customers/explain).

import { api } from "./session.js";
import { field, h } from "./dom.js";

export class CustomerCard {
  constructor({ toast }) {
    this.toast = toast;
    this.input = h("input", { type: "email", placeholder: "customer@example.com", dataset: { role: "customer-email" } });
    this.result = h("div", { class: "customer-result", dataset: { role: "customer-result" } });
    const form = h(
      "form",
      { class: "customer-form", onsubmit: (event) => { event.preventDefault(); this.explain(); } },
      field("Customer's email address", this.input),
      h("button", { type: "submit", class: "btn", dataset: { role: "explain" } }, "Explain"),
    );
    this.element = h(
      "section",
      { class: "card settings", id: "customer-view" },
      h("div", { class: "card-header" }, h("div", { class: "title-block" },
        h("h2", {}, "Why did a customer get (or not get) an email?"),
        h("p", { class: "subdued" }, "Every workflow for one customer: enrolled or the reason not, each check with the customer's value, each email's state."))),
      h("div", { class: "card-body" }, form, this.result),
    );
  }

  async explain() {
    const email = this.input.value.trim();
    if (!email) return;
    try {
      this.render(await api("GET", `/customers/explain?email=${encodeURIComponent(email)}`));
    } catch (error) {
      this.result.replaceChildren(h("p", { class: "field-error" }, error.status === 404 ? "No customer, checkout or order has that address." : error.message));
    }
  }

  render(found) {
    const consent = { true: "yes", false: "no" }[String(found.customer?.accepts_marketing)] || "not known";
    const after = found.orders_after_messages;
    this.result.replaceChildren(
      h("p", {}, h("strong", {}, found.email), ` · marketing consent: ${consent} · ${found.orders.length} order(s)`),
      h("ul", { class: "explain-list" }, found.workflows.map((w) => this.workflow(w))),
      h("p", { class: "subdued" }, `Orders placed after an email (in time only, not attributed): ${after.length ? after.map((o) => `${o.name || o.id} (${o.value})`).join(", ") : "none"}`),
    );
  }

  workflow(w) {
    if (!w.enrolled) {
      return h("li", { dataset: { explained: w.workflow, enrolled: "no" } }, h("strong", {}, w.title), ` — not enrolled: ${w.why_not}`);
    }
    return h(
      "li",
      { dataset: { explained: w.workflow, enrolled: "yes" } },
      h("strong", {}, w.title), ` — enrolled ${w.episodes_total} time(s)`,
      h("ul", {}, w.episodes.map((e) => h(
        "li", {},
        `${e.state}${e.exit_reason ? ` (${e.exit_reason})` : ""}${e.holdout ? " · holdout group, never messaged" : ""}`,
        h("ul", {}, e.steps.map((s) => h(
          "li", { dataset: { step: s.step } },
          `Step ${s.step}: ${s.state}${s.reason ? ` — ${s.reason}` : ""}`,
          s.conditions?.changed_since ? h("p", { class: "help", dataset: { role: "changed-since" } },
            "Re-checked on facts that changed since: some values below are today's, not those the step was decided on; the decision stands.") : null,
          s.conditions ? h("ul", { class: "checks" }, s.conditions.checks.map((c) =>
            h("li", { class: c.passed ? "check-passed" : "check-failed" }, `${c.passed ? "✓" : "✗"} ${c.words}`))) : null,
        ))),
        e.messages.length ? h("ul", {}, e.messages.map((m) =>
          h("li", { dataset: { role: "message-state" } }, `Email “${m.subject || m.step}”: ${[m.state, ...m.events.map((x) => x.state)].join(", ")}`))) : null,
      ))),
    );
  }
}
