// A step's A/B test: two to five variants, each with its weight (the split shown beside it)
// and what it changes — subject, template, text, discount, delay; an empty field keeps the
// step's own. The merchant picks the winner (asked first, then saved as a new version), and
// says whether the test may pick its own winner and after how many recipients.

import { confirmDialog } from "./confirm_dialog.js";
import { field, h, numberOrText, select } from "./dom.js";

const IDS = ["a", "b", "c", "d", "e"];
const MAX_VARIANTS = IDS.length;
const DEFAULT_PLANNED = 1000; // rules/sequential.py's
const DISCOUNT_DAYS = 3; // a discount a variant adds where the step has none

const RULE_HELP =
  "Before every variant has the planned number of recipients, a variant wins only if its " +
  "99.9 % interval against the control lies above zero; at the planned number the usual " +
  "95 % interval decides once, and if no variant is ahead the control is kept. " +
  "This keeps false winners under 5 % however often the results are looked at " +
  "(the Haybittle–Peto rule).";

const label = (id) => `Variant ${id.toUpperCase()}`;
const emailOf = (actions) => (actions || []).find((a) => a.name === "send_email");
const discountOf = (actions) => (actions || []).find((a) => a.name === "create_discount");
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

export class VariantEditor {
  // anchors: [[value, label]] of the delay anchors; save: the card's Save (for the winner)
  constructor({ catalog, step, path, anchors, onChange, save }) {
    this.catalog = catalog;
    this.step = step;
    this.path = path;
    this.anchors = anchors;
    this.onChange = onChange;
    this.save = save;
    this.element = h("div");
    this.redraw();
  }

  redraw() {
    this.element.replaceChildren(this.render());
  }

  changed() {
    this.onChange();
  }

  render() {
    const step = this.step;
    const path = `${this.path}.variants`;
    if (!step.variants?.length) {
      return h(
        "div",
        { class: "ab-test empty", dataset: { path, role: "ab-test" } },
        h("h4", {}, "A/B test"),
        h("p", { class: "help" }, "Send some customers another subject, email, discount or timing, and see which converts better."),
        h("button", {
          type: "button",
          class: "btn",
          dataset: { role: "add-ab-test" },
          onclick: () => {
            step.variants = [{ id: "a", weight: 50 }, { id: "b", weight: 50 }];
            this.changed();
            this.redraw();
          },
        }, "Test variants of this step"),
      );
    }
    this.splits = new Map();
    const panels = step.variants.map((variant, j) => this.variantPanel(variant, j));
    this.showSplit();
    const add = step.variants.length < MAX_VARIANTS
      ? h("button", {
          type: "button",
          class: "btn",
          dataset: { role: "add-variant" },
          onclick: () => {
            const used = new Set(step.variants.map((v) => v.id));
            const weight = step.variants[step.variants.length - 1].weight;
            step.variants.push({ id: IDS.find((id) => !used.has(id)), weight: typeof weight === "number" ? weight : 50 });
            this.changed();
            this.redraw();
          },
        }, "Add a variant")
      : null;
    const remove = h("button", {
      type: "button",
      class: "btn plain critical",
      dataset: { role: "remove-ab-test" },
      onclick: () => {
        delete step.variants;
        delete step.winner;
        delete step.auto_winner;
        this.changed();
        this.redraw();
      },
    }, "Remove the A/B test");
    return h(
      "div",
      { class: "ab-test errors-here", dataset: { path, role: "ab-test" } },
      h("div", { class: "ab-head" }, h("h4", {}, "A/B test"), this.winnerLine()),
      h("p", { class: "help" }, "Each customer always gets the same variant, in proportion to the weights. Leave a field empty to keep the step's own."),
      h("div", { class: "variants" }, panels),
      h("div", { class: "ab-buttons" }, add, remove),
      this.autoWinner(),
    );
  }

  winnerLine() {
    const step = this.step;
    if (!step.winner) return h("span", { class: "badge info", dataset: { role: "ab-status" } }, "Testing");
    return h(
      "span",
      { class: "winner-line", dataset: { path: `${this.path}.winner` } },
      h("span", { class: "badge fired", dataset: { role: "ab-status" } }, `Winner: ${label(step.winner)}`),
      h("button", {
        type: "button",
        class: "btn plain",
        dataset: { role: "resume-test" },
        onclick: () => {
          step.winner = null;
          this.changed();
          this.redraw();
        },
      }, "Resume the test"),
    );
  }

  showSplit() {
    const weights = this.step.variants.map((v) => (typeof v.weight === "number" && v.weight > 0 ? v.weight : 0));
    const total = weights.reduce((a, b) => a + b, 0);
    this.step.variants.forEach((variant, j) => {
      const el = this.splits.get(variant.id);
      if (el) el.textContent = total ? `${Math.round((weights[j] / total) * 1000) / 10} % of customers` : "—";
    });
  }

  variantPanel(variant, j) {
    const step = this.step;
    const path = `${this.path}.variants[${j}]`;
    const control = j === 0;
    const split = h("span", { class: "split", dataset: { role: "split" } });
    this.splits.set(variant.id, split);
    const weight = field("Weight", h("input", {
      type: "number",
      step: "any",
      min: 0,
      value: variant.weight ?? "",
      dataset: { path: `${path}.weight`, role: "variant-weight" },
      oninput: (event) => {
        variant.weight = numberOrText(event.target.value);
        this.showSplit();
        this.changed();
      },
    }));
    const isWinner = step.winner === variant.id;
    const pick = isWinner
      ? h("span", { class: "badge fired" }, "Winner")
      : h("button", {
          type: "button",
          class: "btn plain",
          dataset: { role: "pick-winner" },
          onclick: () => this.pickWinner(variant),
        }, "Make it the winner");
    const removeButton = step.variants.length > 2
      ? h("button", {
          type: "button",
          class: "icon-btn",
          "aria-label": `Remove ${label(variant.id)}`,
          dataset: { role: "remove-variant" },
          onclick: () => {
            step.variants.splice(j, 1);
            if (step.winner === variant.id) step.winner = null;
            this.changed();
            this.redraw();
          },
        }, "×")
      : null;
    return h(
      "div",
      { class: `variant errors-here${isWinner ? " winner" : ""}`, dataset: { path, variant: variant.id } },
      h("div", { class: "variant-head" },
        h("strong", {}, label(variant.id)),
        control ? h("span", { class: "badge subtle" }, "Control") : null,
        split,
        h("span", { class: "spacer" }),
        pick,
        removeButton,
      ),
      h("div", { class: "grid variant-fields" },
        weight,
        this.subjectField(variant, path),
        this.templateField(variant, path),
        this.discountField(variant, path),
      ),
      this.textField(variant, path),
      this.delayField(variant, path),
    );
  }

  // Change a copy of the variant's actions (the step's, the first time); the variant keeps
  // actions of its own only while they differ from the step's.
  override(variant, change) {
    const actions = structuredClone(variant.actions ?? this.step.actions ?? []);
    change(actions);
    if (same(actions, this.step.actions)) delete variant.actions;
    else variant.actions = actions;
    this.changed();
  }

  // The variant's own value of an email param, "" where it is the step's.
  ownEmailParam(variant, key) {
    const own = emailOf(variant.actions)?.params?.[key];
    const step = emailOf(this.step.actions)?.params?.[key];
    return variant.actions && !same(own, step) ? own ?? "" : "";
  }

  design(template) {
    return (this.catalog.email_designs || {})[template] || {};
  }

  subjectField(variant, path) {
    const stepEmail = emailOf(this.step.actions);
    if (!stepEmail) return null;
    const inherited = stepEmail.params?.subject || this.design(stepEmail.params?.template).subject || "";
    const index = this.step.actions.indexOf(stepEmail);
    return field("Subject", h("input", {
      type: "text",
      value: this.ownEmailParam(variant, "subject"),
      placeholder: inherited,
      dataset: { path: `${path}.actions[${index}].params.subject`, role: "variant-subject" },
      oninput: (event) => {
        const value = event.target.value.trim();
        this.override(variant, (actions) => {
          const params = emailOf(actions).params;
          if (value) params.subject = value;
          else if (stepEmail.params?.subject) params.subject = stepEmail.params.subject;
          else delete params.subject;
        });
      },
    }));
  }

  templateField(variant, path) {
    const stepEmail = emailOf(this.step.actions);
    if (!stepEmail) return null;
    const index = this.step.actions.indexOf(stepEmail);
    const options = [["", `The step's (${stepEmail.params?.template})`], ...Object.keys(this.catalog.email_designs || {}).map((name) => [name, name.replaceAll("_", " ")])];
    return field("Template", select(options, this.ownEmailParam(variant, "template"), {
      dataset: { path: `${path}.actions[${index}].params.template`, role: "variant-template" },
      onchange: (event) => {
        const value = event.target.value;
        this.override(variant, (actions) => {
          emailOf(actions).params.template = value || stepEmail.params.template;
        });
      },
    }));
  }

  // The email's first text block: the step's blocks, or its design's as shipped.
  textField(variant, path) {
    const stepEmail = emailOf(this.step.actions);
    if (!stepEmail) return null;
    const index = this.step.actions.indexOf(stepEmail);
    const blocksOf = (params) => params?.blocks || this.design(params?.template).blocks || [];
    const firstText = (blocks) => blocks.find((b) => b.type === "text");
    const stepText = firstText(blocksOf(stepEmail.params))?.text ?? "";
    const ownText = variant.actions ? firstText(blocksOf(emailOf(variant.actions)?.params))?.text ?? "" : "";
    return field("Text", h("textarea", {
      rows: 2,
      value: ownText !== stepText ? ownText : "",
      placeholder: stepText,
      dataset: { path: `${path}.actions[${index}].params.blocks`, role: "variant-text" },
      oninput: (event) => {
        const value = event.target.value;
        this.override(variant, (actions) => {
          const params = emailOf(actions).params;
          if (!value.trim()) {
            if (stepEmail.params?.blocks) params.blocks = structuredClone(stepEmail.params.blocks);
            else delete params.blocks;
            return;
          }
          const blocks = structuredClone(blocksOf(params));
          const block = firstText(blocks);
          if (block) block.text = value;
          else blocks.unshift({ type: "text", text: value });
          params.blocks = blocks;
        });
      },
    }), "The email's first paragraph.");
  }

  discountField(variant, path) {
    const stepDiscount = discountOf(this.step.actions);
    const own = discountOf(variant.actions);
    const value = variant.actions && own && !same(own, stepDiscount) ? own.params?.percent ?? "" : "";
    const index = stepDiscount ? this.step.actions.indexOf(stepDiscount) : 0;
    return field("Discount (% off)", h("input", {
      type: "number",
      step: "any",
      min: 0,
      value,
      placeholder: stepDiscount ? String(stepDiscount.params?.percent ?? 0) : "None",
      dataset: { path: `${path}.actions[${index}].params.percent`, role: "variant-discount" },
      oninput: (event) => {
        const percent = numberOrText(event.target.value);
        this.override(variant, (actions) => {
          const found = discountOf(actions);
          if (percent === null) {
            // back to the step's: its discount, or none
            if (found && stepDiscount) found.params = structuredClone(stepDiscount.params);
            else if (found) actions.splice(actions.indexOf(found), 1);
          } else if (found) {
            found.params = { ...found.params, percent };
          } else {
            // the code is created before the email, which carries it
            actions.unshift({ name: "create_discount", params: { percent, expires_in_days: DISCOUNT_DAYS } });
          }
        });
      },
    }));
  }

  delayField(variant, path) {
    const stepDelay = this.step.delay || {};
    const units = this.catalog.delay_units;
    const stepUnit = units.find((u) => u in stepDelay) || "hours";
    const own = variant.delay || null;
    let unit = (own && units.find((u) => u in own)) || stepUnit;
    const amount = h("input", {
      type: "number",
      step: "any",
      class: "value-number",
      value: own ? own[unit] ?? "" : "",
      placeholder: String(stepDelay[stepUnit] ?? 0),
      "aria-label": `${label(variant.id)} delay`,
      dataset: { path: `${path}.delay.${unit}`, role: "variant-delay" },
    });
    const unitSelect = select(units, unit, { "aria-label": `${label(variant.id)} delay unit`, dataset: { role: "variant-delay-unit" } });
    const from = select(this.anchors, own?.from || stepDelay.from || "enrollment", {
      "aria-label": `${label(variant.id)} delay counted from`,
      dataset: { path: `${path}.delay.from`, role: "variant-delay-from" },
    });
    const update = () => {
      const value = numberOrText(amount.value);
      unit = unitSelect.value;
      amount.dataset.path = `${path}.delay.${unit}`;
      if (value === null) delete variant.delay;
      else variant.delay = { [unit]: value, from: from.value };
      this.changed();
    };
    amount.addEventListener("input", update);
    unitSelect.addEventListener("change", update);
    from.addEventListener("change", update);
    return h(
      "div",
      { class: "field delay", dataset: { path: `${path}.delay` } },
      h("label", { for: amount.id || (amount.id = `${this.path}-${variant.id}-delay`) }, "Delay"),
      h("div", { class: "delay-row" }, h("span", {}, "Due"), amount, unitSelect, h("span", {}, "after"), from),
    );
  }

  async pickWinner(variant) {
    const agreed = await confirmDialog({
      title: `Make ${label(variant.id)} the winner?`,
      text:
        `Everyone who reaches this step gets ${label(variant.id)} from now on, and the test ends. ` +
        "Steps already scheduled keep their due time and send the winner when they fall due. " +
        "This saves the workflow (with any other changes) as a new version.",
      confirm: `Make ${label(variant.id)} the winner`,
      cancel: "Keep testing",
    });
    if (!agreed) return;
    this.step.winner = variant.id;
    this.changed();
    this.redraw();
    await this.save();
  }

  autoWinner() {
    const step = this.step;
    const setting = step.auto_winner || {};
    const path = `${this.path}.auto_winner`;
    const enabled = setting.enabled !== false;
    const write = (next) => {
      const value = { ...(step.auto_winner || {}), ...next };
      if (value.enabled !== false) delete value.enabled;
      if (value.planned_per_variant === null) delete value.planned_per_variant;
      if (Object.keys(value).length) step.auto_winner = value;
      else delete step.auto_winner;
      this.changed();
    };
    const planned = h("input", {
      type: "number",
      step: 1,
      min: 100,
      value: setting.planned_per_variant ?? "",
      placeholder: String(DEFAULT_PLANNED),
      disabled: !enabled,
      dataset: { path: `${path}.planned_per_variant`, role: "planned-per-variant" },
      oninput: (event) => write({ planned_per_variant: numberOrText(event.target.value) }),
    });
    const box = h("input", {
      type: "checkbox",
      id: `${this.path}-auto-winner`,
      checked: enabled,
      dataset: { path: `${path}.enabled`, role: "auto-winner" },
      onchange: (event) => {
        planned.disabled = !event.target.checked;
        write({ enabled: event.target.checked });
      },
    });
    return h(
      "div",
      { class: "auto-winner errors-here", dataset: { path } },
      h("label", { class: "check", for: box.id }, box, "Pick the winner automatically"),
      field("Planned recipients per variant", planned),
      h("p", { class: "help" }, RULE_HELP),
    );
  }
}
