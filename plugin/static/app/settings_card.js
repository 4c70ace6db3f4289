// Shop-wide policies: send window, frequency cap, sender, unsubscribe group, and how
// consent applies to each workflow. Saved with PUT /api/settings; every field validated.

import { api } from "./session.js";
import { clearErrors, showErrors } from "./errors.js";
import { field, h, numberOrText, select } from "./dom.js";

const TEXT_FIELDS = [
  ["name", "Shop name in emails", "Your shop's domain when empty."],
  ["from_name", "Sender name", "Shown as who the email is from."],
  ["from_email", "Sender email", "A verified sender in SendGrid."],
  ["reply_to", "Reply-to email", null],
  ["staff_email", "Staff email", "Where staff alerts and your test emails go."],
  ["postal_address", "Postal address", "Street, city, country: shown in every marketing email, as the law requires. Without it, marketing emails are held."],
];

export class SettingsCard {
  constructor(settings, { catalog, workflows, toast }) {
    this.saved = settings;
    this.catalog = catalog;
    this.workflows = workflows;
    this.toast = toast;
    this.element = h("section", { class: "card settings", id: "shop-settings" });
    this.reset();
  }

  reset() {
    this.draft = structuredClone(this.saved);
    this.render();
  }

  get dirty() {
    return JSON.stringify(this.draft) !== JSON.stringify(this.saved);
  }

  changed() {
    this.saveButton.disabled = !this.dirty;
    this.footer.hidden = !this.dirty && !this.message.textContent;
  }

  input(path, type, get, set, attrs = {}) {
    return h("input", {
      type,
      value: get() ?? "",
      dataset: { path },
      ...attrs,
      oninput: (event) => {
        set(event.target.value);
        this.changed();
      },
    });
  }

  render() {
    const d = this.draft;
    const hour = (key) =>
      this.input(`send_window.${key}`, "number", () => d.send_window[key], (v) => (d.send_window[key] = numberOrText(v)), { min: 0, max: 24, step: 1 });
    const timezones = h("datalist", { id: "timezones" }, this.catalog.timezones.map((tz) => h("option", { value: tz })));
    const sending = h(
      "div",
      { class: "annotated" },
      h("div", { class: "annotation" }, h("h3", {}, "When emails go out"), h("p", { class: "subdued" }, "Marketing email waits for the send window in the customer's time zone (else the shop's), and a customer gets at most one per cap.")),
      h(
        "div",
        { class: "grid" },
        field("Send window opens (hour)", hour("start_hour")),
        field("Send window closes (hour)", hour("end_hour")),
        field("Shop time zone", this.input("timezone", "text", () => d.timezone, (v) => (d.timezone = v), { list: "timezones", autocomplete: "off" })),
        field("Frequency cap (hours)", this.input("frequency_cap_hours", "number", () => d.frequency_cap_hours, (v) => (d.frequency_cap_hours = numberOrText(v)), { min: 0, step: "any" }), "At most one marketing email per this many hours."),
        field("When a message is capped", select([["defer", "Send it later"], ["drop", "Drop it"]], d.capped_action, {
          dataset: { path: "capped_action" },
          onchange: (event) => {
            d.capped_action = event.target.value;
            this.changed();
          },
        })),
        timezones,
        field("Credit an order to a click within (days)", this.input("attribution.click_window_days", "number", () => d.attribution.click_window_days, (v) => (d.attribution.click_window_days = numberOrText(v)), { min: 0, max: 30, step: "any" }), "The last email clicked this many days before an order gets it."),
        field("…or to a delivery within (days)", this.input("attribution.delivery_window_days", "number", () => d.attribution.delivery_window_days, (v) => (d.attribution.delivery_window_days = numberOrText(v)), { min: 0, max: 30, step: "any" }), "0: only clicks count."),
      ),
    );
    const sender = h(
      "div",
      { class: "annotated" },
      h("div", { class: "annotation" }, h("h3", {}, "Sender"), h("p", { class: "subdued" }, "Who your emails come from, where replies go, and the SendGrid unsubscribe group marketing email belongs to.")),
      h(
        "div",
        { class: "grid" },
        TEXT_FIELDS.map(([key, label, help]) =>
          field(label, this.input(key, key.endsWith("email") || key === "reply_to" ? "email" : "text", () => d[key], (v) => (d[key] = v.trim() || null)), help)),
        field("Unsubscribe group id", this.input("asm_group_id", "number", () => d.asm_group_id, (v) => (d.asm_group_id = numberOrText(v)), { min: 1, step: 1 }), "SendGrid's group; unsubscribes are mirrored to it."),
      ),
    );
    const offers = h(
      "div",
      { class: "annotated" },
      h("div", { class: "annotation" }, h("h3", {}, "Offers"), h("p", { class: "subdued" }, "How many discount codes from your workflows a customer may hold at once (a code counts until it expires or they order), and how many days apart new ones come. A step whose code the policy refuses is skipped, its email too.")),
      h(
        "div",
        { class: "grid" },
        field("Open codes per customer", this.input("offers.max_open_per_customer", "number", () => d.offers.max_open_per_customer, (v) => (d.offers.max_open_per_customer = numberOrText(v)), { min: 0, max: 10, step: 1 })),
        field("Days between codes", this.input("offers.min_days_between", "number", () => d.offers.min_days_between, (v) => (d.offers.min_days_between = numberOrText(v)), { min: 0, max: 365, step: "any" })),
      ),
    );
    const overlay = this.overlaySection(d.storefront);
    const consent = h(
      "div",
      { class: "annotated" },
      h("div", { class: "annotation" }, h("h3", {}, "Consent policy"), h("p", { class: "subdued" }, "Marketing workflows email only customers who agreed to marketing, never a suppressed or unsubscribed address. A transactional workflow (such as a review request for an order) skips the cap and window but still never mails a suppressed address. Change it in the workflow's settings.")),
      h("ul", { class: "consent-list" }, this.workflows.map((w) =>
        h("li", {}, h("span", {}, w.title), h("span", { class: `badge ${w.category === "transactional" ? "" : "info"}` }, w.category === "transactional" ? "Transactional" : "Marketing consent"))),
      ),
    );
    this.message = h("div", { class: "footer-message", role: "alert" });
    this.saveButton = h("button", { type: "button", class: "btn primary", dataset: { role: "save-settings" }, onclick: () => this.save() }, "Save");
    this.footer = h("div", { class: "card-footer" }, this.message, h("div", { class: "buttons" }, h("button", { type: "button", class: "btn", onclick: () => this.reset() }, "Discard"), this.saveButton));
    this.element.replaceChildren(
      h("div", { class: "card-header" }, h("div", { class: "title-block" }, h("h2", {}, "Shop-wide settings"), h("p", { class: "subdued" }, "They apply to every workflow."))),
      h("div", { class: "card-body" }, sending, sender, offers, overlay, consent),
      this.footer,
    );
    this.changed();
  }

  // The storefront script's overlay for anonymous visitors: its words, when it appears,
  // and the topics its signup form offers (plus those of enabled topic series).
  overlaySection(o) {
    const text = (key, label, attrs = {}) =>
      field(label, this.input(`storefront.${key}`, "text", () => o[key], (v) => (o[key] = v), attrs));
    const toggle = (key, label) =>
      h("div", { class: "field" }, h("label", { class: "check" }, h("input", {
        type: "checkbox",
        checked: o[key],
        dataset: { path: `storefront.${key}` },
        onchange: (event) => {
          o[key] = event.target.checked;
          this.changed();
        },
      }), ` ${label}`));
    return h(
      "div",
      { class: "annotated" },
      h("div", { class: "annotation" }, h("h3", {}, "On-site overlay"), h("p", { class: "subdued" }, "Shown by the storefront script to anonymous visitors after a delay or when they are about to leave: at most once per session, never to subscribers, and only once the visitor has agreed to tracking (on Shopify, through its cookie banner)."), h("p", { class: "subdued" }, "On Shopify, the theme editor (Theme settings › App embeds › Nudge storefront) can turn the overlay off for a theme and give it its own delay and exit intent; left alone, they follow these.")),
      h(
        "div",
        { class: "grid" },
        toggle("overlay_enabled", "Show the overlay"),
        toggle("exit_intent", "Also on exit intent"),
        field("Delay (seconds on site)", this.input("storefront.delay_seconds", "number", () => o.delay_seconds, (v) => (o.delay_seconds = numberOrText(v)), { min: 0, max: 600, step: 1 })),
        text("headline", "Headline", { maxlength: 80 }),
        text("text", "Text", { maxlength: 300 }),
        text("offer", "Offer", { maxlength: 120, placeholder: "10% off your first order" }),
        text("button", "Button", { maxlength: 40 }),
        field("Topics offered", this.input("storefront.topics", "text", () => o.topics.join(", "), (v) => (o.topics = v.split(",").map((t) => t.trim()).filter(Boolean))), "Comma-separated; topics with their own series are offered too."),
      ),
    );
  }

  async save() {
    this.saveButton.disabled = true;
    clearErrors(this.element);
    this.message.textContent = "";
    try {
      const { settings } = await api("PUT", "/settings", this.draft);
      this.saved = settings;
      this.reset();
      this.toast("Shop-wide settings saved");
    } catch (error) {
      const unplaced = showErrors(this.element, error.fieldErrors);
      this.message.classList.add("critical");
      this.message.replaceChildren(
        h("strong", {}, "Nothing was saved."),
        unplaced.length ? h("ul", {}, unplaced.map((e) => h("li", {}, e.message))) : error.fieldErrors.length ? " Fix the fields marked below." : ` ${error.message}`,
      );
      this.changed();
    }
  }
}
