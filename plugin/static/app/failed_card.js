// Messages parked with an error (SendGrid refused them, or their discount code could not be
// created): what went wrong, in SendGrid's words, and a button to send each one again.

import { api } from "./session.js";
import { h } from "./dom.js";

export class FailedCard {
  constructor(messages, { toast, delivery }) {
    this.toast = toast;
    this.delivery = delivery || { sendgrid: true };
    this.element = h("section", { class: "card settings", id: "failed-messages" });
    this.render(messages);
  }

  render(messages) {
    const body = messages.length
      ? h("ul", { class: "failed-list" }, messages.map((m) => this.row(m)))
      : h("p", { class: "subdued" }, this.delivery.sendgrid
        ? "None: every message went to SendGrid or is on its way."
        : `None failed, and none went out: emails are kept on this machine (${this.delivery.kept_because}).`);
    this.element.replaceChildren(
      h("div", { class: "card-header" }, h("div", { class: "title-block" },
        h("h2", {}, "Messages that could not be sent"),
        h("p", { class: "subdued" }, "Fix the cause (a sender SendGrid has not verified, a missing permission), then send them again."))),
      h("div", { class: "card-body" }, body),
    );
  }

  row(message) {
    const button = h("button", { type: "button", class: "btn", dataset: { role: "retry" } }, "Send again");
    const item = h(
      "li",
      { class: "failed", dataset: { message: String(message.id) } },
      h("div", {},
        h("strong", {}, message.subject || message.kind), " ",
        h("span", { class: "subdued" }, `${message.workflow} · to ${message.to || "—"} · ${message.attempts} attempt(s)`),
        h("p", { class: "field-error" }, message.last_error || "failed"),
      ),
      button,
    );
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api("POST", `/outbox/${message.id}/retry`);
        item.replaceChildren(h("span", { class: "badge fired" }, "Queued again"), " ", message.subject || message.kind);
        this.toast("Queued to send again");
      } catch (error) {
        button.disabled = false;
        this.toast(error.message);
      }
    });
    return item;
  }
}
