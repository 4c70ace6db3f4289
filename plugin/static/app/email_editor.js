// One step's email as the merchant shapes it: the built-in design it starts from, its subject
// and preheader, and its blocks (heading, text, button, products, discount code, footer note)
// to add, remove, reorder and edit, with placeholders such as {first_name}. A step without
// blocks of its own sends its design as shipped; the first edit copies the design into the
// step. The live preview (email_preview.js) follows every change.

import { EmailPreview } from "./email_preview.js";
import { field, h, humanize, numberOrText, select } from "./dom.js";

const BLOCK_LABELS = {
  heading: "Heading",
  text: "Text",
  button: "Button",
  products: "Products",
  discount: "Discount code",
  footer: "Footer note",
};
const SOURCE_LABELS = {
  recommendations: "Recommended for the customer",
  best_sellers: "Best sellers",
  new_arrivals: "New arrivals",
  reorder_items: "The product the customer is due to re-order",
  cart_items: "The customer's cart, with its total",
  order_items: "The customer's order, with its total",
};
const NEW_BLOCKS = {
  heading: { type: "heading", text: "A new heading" },
  text: { type: "text", text: "Hi {first_name}," },
  button: { type: "button", label: "Visit {shop_name}", url: "{shop_url}" },
  products: { type: "products", source: "recommendations", limit: 4 },
  discount: { type: "discount" },
  footer: { type: "footer", text: "Thank you for shopping with {shop_name}." },
};
const FIELD_LABELS = {
  text: "Text",
  label: "Button text",
  url: "Link",
  source: "Products",
  limit: "How many",
  title: "Title above them (optional)",
};
// the one field of these blocks, named for what it is there
const OWN_LABELS = { discount: "Caption (optional)", footer: "Note" };
const FIELD_HELP = {
  discount: "Shown only when the step creates a code. Empty: “Your code for {discount} off”.",
  footer: "Above your shop's name and the unsubscribe link, which every email carries.",
};

export class EmailEditor {
  // draft: () => the workflow's draft definition; onChange: the card's dirty check
  constructor({ catalog, workflow, step, params, path, draft, onChange }) {
    this.catalog = catalog;
    this.designs = catalog.email_designs || {};
    this.content = catalog.email_content || { placeholders: [], blocks: {} };
    this.params = params;
    this.path = path;
    this.onChange = onChange;
    this.lastField = null;
    this.element = h("div", { class: "email-editor", dataset: { path: `${path}.blocks` } });
    this.preview = new EmailPreview(workflow, () => ({ step: step.id, definition: draft() }), this.element);
    this.render();
  }

  get design() {
    return this.designs[this.params.template] || { subject: "", preheader: "", blocks: [] };
  }

  changed() {
    this.onChange();
    this.preview.changed();
  }

  render() {
    const params = this.params;
    const line = (label, key, help) =>
      field(label, h("input", {
        type: "text",
        value: params[key] ?? "",
        placeholder: this.design[key] || "",
        dataset: { path: `${this.path}.${key}` },
        onfocus: (event) => (this.lastField = event.target),
        oninput: (event) => {
          if (event.target.value.trim()) params[key] = event.target.value;
          else delete params[key];
          this.changed();
        },
      }), help);
    const template = field("Built-in template", select(this.catalog.email_templates.map((t) => [t, humanize(t)]), params.template, {
      dataset: { path: `${this.path}.template` },
      onchange: (event) => {
        params.template = event.target.value;
        this.render(); // the design's subject, preheader and blocks, unless the step has its own
        this.changed();
      },
    }));
    this.list = h("ol", { class: "blocks" });
    this.head = h("div", { class: "blocks-head" });
    this.drawHead();
    this.drawBlocks();
    this.element.replaceChildren(
      h("div", { class: "grid" }, template,
        line("Subject", "subject", "Empty: the template's own, shown greyed."),
        line("Preheader", "preheader", "The line inboxes show after the subject.")),
      this.head,
      this.list,
      this.adder(),
      this.placeholders(),
      this.preview.element,
    );
  }

  // the step's blocks, or a copy of its design's that becomes the step's on the first edit
  blocks() {
    if (this.params.blocks) return this.params.blocks;
    if (!this.working || this.workingFor !== this.params.template) {
      this.working = structuredClone(this.design.blocks);
      this.workingFor = this.params.template;
    }
    return this.working;
  }

  commit() {
    const first = !this.params.blocks;
    this.params.blocks = this.blocks();
    if (first) this.drawHead();
    this.changed();
  }

  // whose blocks these are: the design's, or the step's own (which can go back to the design)
  drawHead() {
    this.head.replaceChildren(
      h("h4", {}, "Content"),
      this.params.blocks
        ? h("button", { type: "button", class: "btn plain", dataset: { role: "reset-blocks" }, onclick: () => this.reset() }, "Use the template's design")
        : h("span", { class: "subdued" }, "The template's design: edit any block to make it this step's own."),
    );
  }

  reset() {
    delete this.params.blocks;
    this.working = null;
    this.render();
    this.changed();
  }

  drawBlocks() {
    const blocks = this.blocks();
    this.list.replaceChildren(...blocks.map((block, k) => this.blockItem(block, k, blocks.length)));
  }

  blockItem(block, k, count) {
    const path = `${this.path}.blocks[${k}]`;
    const move = (to) => {
      const blocks = this.blocks();
      blocks.splice(to, 0, ...blocks.splice(k, 1));
      this.commit();
      this.drawBlocks();
    };
    const tool = (role, label, text, onclick, disabled) =>
      h("button", { type: "button", class: "icon-btn", title: label, "aria-label": `${label}: ${BLOCK_LABELS[block.type] || block.type}`, dataset: { role }, disabled, onclick }, text);
    const fields = Object.entries(this.content.blocks[block.type] || {}).map(([key, spec]) => this.blockField(block, key, spec, `${path}.${key}`));
    return h(
      "li",
      { class: "block", dataset: { path, block: block.type } },
      h("div", { class: "block-head" },
        h("strong", {}, BLOCK_LABELS[block.type] || humanize(String(block.type))),
        h("span", { class: "block-tools" },
          tool("move-up", "Move up", "↑", () => move(k - 1), k === 0),
          tool("move-down", "Move down", "↓", () => move(k + 1), k === count - 1),
          tool("remove-block", "Remove", "×", () => {
            this.blocks().splice(k, 1);
            this.commit();
            this.drawBlocks();
          }, count === 1))),
      fields.length ? h("div", { class: "block-fields" }, fields) : null,
      FIELD_HELP[block.type] ? h("p", { class: "help" }, FIELD_HELP[block.type]) : null,
    );
  }

  blockField(block, key, spec, path) {
    const set = (value) => {
      if (value === null || (value === "" && !spec.required)) delete block[key];
      else block[key] = value;
      this.commit();
    };
    let control;
    if (spec.kind === "source") {
      control = select(this.content.product_sources.map((s) => [s, SOURCE_LABELS[s] || humanize(s)]), block[key], {
        dataset: { path },
        onchange: (event) => set(event.target.value),
      });
    } else if (spec.kind === "limit") {
      const [low, high] = this.content.product_limit || [1, 12];
      control = h("input", { type: "number", min: low, max: high, step: 1, value: block[key] ?? "", placeholder: "4", dataset: { path }, oninput: (event) => set(numberOrText(event.target.value)) });
    } else {
      const multiline = key === "text" && (block.type === "text" || block.type === "footer");
      control = h(multiline ? "textarea" : "input", {
        ...(multiline ? { rows: block.type === "text" ? 4 : 2 } : { type: "text" }),
        maxlength: spec.longest || undefined,
        placeholder: block.type === "discount" ? "Your code for {discount} off" : "",
        dataset: { path },
        onfocus: (event) => (this.lastField = event.target),
        oninput: (event) => set(event.target.value),
      });
      control.value = block[key] ?? ""; // a textarea has no value attribute
    }
    return field(OWN_LABELS[block.type] || FIELD_LABELS[key] || humanize(key), control);
  }

  adder() {
    const kinds = Object.keys(this.content.blocks);
    const choice = select(kinds.map((k) => [k, BLOCK_LABELS[k] || humanize(k)]), "text", { "aria-label": "Block to add", dataset: { role: "new-block-type" } });
    return h("div", { class: "block-adder" }, choice, h("button", {
      type: "button",
      class: "btn",
      dataset: { role: "add-block" },
      onclick: () => {
        const blocks = this.blocks();
        // before the footer notes, which sit at the bottom anyway
        const at = blocks.findIndex((b) => b.type === "footer");
        blocks.splice(at < 0 ? blocks.length : at, 0, structuredClone(NEW_BLOCKS[choice.value] || { type: choice.value }));
        this.commit();
        this.drawBlocks();
      },
    }, "Add block"));
  }

  // every placeholder, with what shows when it is unknown; a click types it where the
  // cursor last was
  placeholders() {
    const items = this.content.placeholders.map((p) =>
      h("li", {},
        h("button", {
          type: "button",
          class: "chip-btn",
          dataset: { placeholder: p.name },
          onmousedown: (event) => event.preventDefault(), // keep the cursor in its field
          onclick: () => this.insert(`{${p.name}}`),
        }, `{${p.name}}`),
        h("span", {}, ` ${p.description}`),
        p.missing ? h("span", { class: "subdued" }, ` (unknown: “${p.missing}”)`) : null));
    return h("details", { class: "placeholders" },
      h("summary", {}, "Placeholders"),
      h("p", { class: "help" }, "They work in the subject, the preheader and every block. {first_name|friend} says what shows when the first name is unknown."),
      h("ul", {}, items));
  }

  insert(text) {
    const input = this.lastField;
    if (!input || !input.isConnected) return;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    input.setRangeText(text, start, end, "end");
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.focus();
  }
}
