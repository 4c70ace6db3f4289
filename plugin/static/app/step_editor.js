// One step of a workflow: when it is due, its conditions (the rule editor), what it does
// (its email, with a live preview; discount, tag, staff alert), "send me a test", and its
// A/B test (variant_editor.js). Its heading carries "Move up", "Move down" and "Remove",
// which the card carries out on its list of steps (step_list.js).

import { api } from "./session.js";
import { EmailEditor } from "./email_editor.js";
import { field, h, humanize, numberOrText, select } from "./dom.js";
import { VariantEditor } from "./variant_editor.js";

const ANCHOR_LABELS = {
  enrollment: "enrollment",
  checkout_activity: "the last checkout activity",
  order_created: "the order",
  fulfillment: "fulfilment",
  expected_reorder: "the expected re-order",
  previous_step: "the previous step",
};

export class StepEditor {
  // draft: () => the workflow's draft definition (test emails try it unsaved); save: the
  // card's Save (picking a test's winner saves at once); list: the card's move(i, offset)
  // and remove(i) of a step
  constructor(catalog, workflow, draft, onChange, save, list) {
    this.catalog = catalog;
    this.workflow = workflow;
    this.draft = draft;
    this.onChange = onChange;
    this.save = save;
    this.list = list;
  }

  anchors() {
    return this.catalog.delay_anchors.map((a) => [a, ANCHOR_LABELS[a] || humanize(a)]);
  }

  render(step, i, editor) {
    const path = `steps[${i}]`;
    return h(
      "section",
      { class: "section step", dataset: { path, step: step.id } },
      h("div", { class: "step-head" },
        h("h3", {}, h("span", { class: "step-number" }, String(i + 1)), humanize(step.id)),
        this.listButtons(step, i)),
      this.delayRow(step, path),
      editor.render(step.conditions, `${path}.conditions`),
      h("div", { class: "actions" }, (step.actions || []).map((action, j) => this.actionPanel(action, `${path}.actions[${j}]`, step))),
      (step.actions || []).some((a) => a.name === "send_email") ? this.testEmail(step, path) : null,
      new VariantEditor({
        catalog: this.catalog,
        step,
        path,
        anchors: this.anchors(),
        onChange: this.onChange,
        save: this.save,
      }).element,
    );
  }

  // Move up, move down, remove: each names its step for a screen reader. The only step
  // cannot go (a workflow has at least one, rules/validation.py).
  listButtons(step, i) {
    const count = this.draft().steps.length;
    const name = humanize(step.id);
    // the visible words first in each accessible name (WCAG's label in name)
    const button = (role, text, disabled, onclick, extra = {}) =>
      h("button", { type: "button", class: "btn plain", "aria-label": `${text}: ${name}`, disabled, dataset: { role }, onclick, ...extra }, text);
    const alone = count === 1;
    return h(
      "div",
      { class: "step-tools" },
      button("step-up", "Move up", i === 0, () => this.list.move(i, -1)),
      button("step-down", "Move down", i === count - 1, () => this.list.move(i, 1)),
      button("remove-step", "Remove", alone, () => this.list.remove(i), {
        class: "btn plain critical",
        title: alone ? "A workflow keeps at least one step." : null,
      }),
    );
  }

  delayRow(step, path) {
    const delay = step.delay || (step.delay = {});
    const units = this.catalog.delay_units.filter((unit) => unit in delay);
    const row = h("div", { class: "delay-row" }, h("span", {}, "Due"));
    const redraw = () => row.replaceWith(this.delayRow(step, path));
    if (units.length <= 1) {
      let unit = units[0] || "hours";
      row.append(
        h("input", {
          type: "number",
          step: "any",
          class: "value-number",
          value: delay[unit] ?? 0,
          "aria-label": "Delay",
          dataset: { path: `${path}.delay.${unit}`, role: "delay-amount" },
          oninput: (event) => {
            delay[unit] = numberOrText(event.target.value);
            this.onChange();
          },
        }),
        select(this.catalog.delay_units, unit, {
          "aria-label": "Delay unit",
          dataset: { role: "delay-unit" },
          onchange: (event) => {
            const amount = delay[unit] ?? 0;
            delete delay[unit];
            unit = event.target.value;
            delay[unit] = amount;
            this.onChange();
            redraw();
          },
        }),
      );
    } else {
      for (const unit of units) {
        row.append(h("input", {
          type: "number",
          step: "any",
          class: "value-number",
          value: delay[unit],
          "aria-label": `Delay ${unit}`,
          dataset: { path: `${path}.delay.${unit}` },
          oninput: (event) => {
            delay[unit] = numberOrText(event.target.value);
            this.onChange();
          },
        }), h("span", {}, unit));
      }
    }
    const anchors = this.anchors();
    row.append(
      h("span", {}, "after"),
      select(anchors, delay.from || "enrollment", {
        "aria-label": "Counted from",
        dataset: { path: `${path}.delay.from`, role: "delay-from" },
        onchange: (event) => {
          delay.from = event.target.value;
          this.onChange();
        },
      }),
    );
    return h("div", { class: "field delay" }, row, delay.from === "expected_reorder" ? h("p", { class: "help" }, "A negative number means before.") : null);
  }

  actionPanel(action, path, step) {
    const params = action.params || (action.params = {});
    const text = (label, key, attrs = {}, help) =>
      field(label, h("input", {
        type: "text",
        value: params[key] ?? "",
        dataset: { path: `${path}.params.${key}` },
        ...attrs,
        oninput: (event) => {
          const value = event.target.value.trim();
          if (value) params[key] = value;
          else delete params[key];
          this.onChange();
        },
      }), help);
    const number = (label, key) =>
      field(label, h("input", {
        type: "number",
        step: "any",
        value: params[key] ?? "",
        dataset: { path: `${path}.params.${key}` },
        oninput: (event) => {
          const value = numberOrText(event.target.value);
          if (value === null) delete params[key];
          else params[key] = value;
          this.onChange();
        },
      }));
    let content;
    if (action.name === "send_email") {
      const source = h("div", { class: "segmented", role: "radiogroup", "aria-label": "Email design" });
      const templateId = text("SendGrid dynamic template id", "template_id", { placeholder: "d-…" }, "Your SendGrid design, given this email's content (and subject) as its data.");
      const useSendGrid = "template_id" in params;
      templateId.hidden = !useSendGrid;
      for (const [value, label] of [["builtin", "Built-in template"], ["sendgrid", "SendGrid dynamic template"]]) {
        const id = `${path}-${value}`;
        source.append(h("input", {
          type: "radio",
          name: `${this.workflow}-${path}-source`,
          id,
          value,
          checked: (value === "sendgrid") === useSendGrid,
          onchange: () => {
            templateId.hidden = value !== "sendgrid";
            if (value === "builtin") {
              delete params.template_id;
              templateId.querySelector("input").value = "";
            }
            this.onChange();
          },
        }), h("label", { for: id }, label));
      }
      const editor = new EmailEditor({
        catalog: this.catalog,
        workflow: this.workflow,
        step,
        params,
        path: `${path}.params`,
        draft: this.draft,
        onChange: this.onChange,
      });
      content = [source, templateId, editor.element];
    } else if (action.name === "create_discount") {
      content = h("div", { class: "grid four" }, number("Percent off", "percent"), number("Amount off", "amount"), number("Expires after (days)", "expires_in_days"), number("Minimum order", "minimum"));
    } else if (action.name === "tag_customer") {
      content = text("Tag", "tag");
    } else if (action.name === "notify_staff") {
      content = text("Send to", "to", { placeholder: "The shop's staff email" });
    }
    const label = humanize(action.name);
    return h("div", { class: "action", dataset: { path } }, h("h4", {}, label), content);
  }

  testEmail(step, path) {
    const result = h("p", { class: "test-result", role: "status" });
    const button = h("button", {
      type: "button",
      class: "btn",
      dataset: { role: "test-email" },
      onclick: async () => {
        button.disabled = true;
        result.className = "test-result";
        result.textContent = "Preparing…";
        try {
          const body = await api("POST", `/workflows/${this.workflow}/test-email`, { step: step.id, definition: this.draft() });
          const { to, subject, kept_because: keptBecause } = body.queued;
          result.textContent = keptBecause
            ? `Kept, not sent (${keptBecause}): “${subject}” for ${to}. Read it with nudge outbox --show ${body.queued.id}.`
            : `Queued for SendGrid, to ${to}: “${subject}”.`;
        } catch (error) {
          result.classList.add("critical");
          result.textContent = error.fieldErrors.length ? error.fieldErrors.map((e) => e.message).join(" ") : error.message;
        } finally {
          button.disabled = false;
        }
      },
    }, "Send a test email to myself");
    return h("div", { class: "test-email errors-here", dataset: { path: `${path}.test` } }, button, result);
  }

}
