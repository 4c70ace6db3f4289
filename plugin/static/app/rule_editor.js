// The condition editor, generated from the rule catalog (business-rules' export_rule_data):
// variables with their types, the operators each type allows and the value each operator
// takes. It edits a business-rules condition tree ({all|any: [...]} groups and
// {name, operator, value} leaves) in place and calls onChange after every edit.

import { h, humanize, numberOrText, select } from "./dom.js";

const TYPE_GROUPS = [
  ["numeric", "Numbers"],
  ["boolean", "Yes / no"],
  ["select_multiple", "Lists"],
  ["select", "Choices"],
  ["string", "Text"],
];

export function isGroup(node) {
  return node && typeof node === "object" && ("all" in node || "any" in node);
}

function groupMode(node) {
  return "any" in node ? "any" : "all";
}

export function defaultValue(inputType, variable) {
  switch (inputType) {
    case "numeric":
      return 0;
    case "none":
    case "boolean":
      return true;
    case "select_multiple":
      return [];
    case "select":
      return variable?.options?.[0]?.name ?? "";
    default:
      return "";
  }
}

export class RuleEditor {
  constructor(catalog, onChange) {
    this.catalog = catalog;
    this.onChange = onChange;
    this.variables = new Map(catalog.variables.map((v) => [v.name, v]));
  }

  operators(variableName) {
    const variable = this.variables.get(variableName);
    return variable ? this.catalog.variable_type_operators[variable.field_type] || [] : [];
  }

  // conditions: the tree to edit (a group); path: its JSON path, e.g. "steps[0].conditions"
  render(conditions, path) {
    const holder = h("div", { class: "rule-editor" });
    const redraw = () => {
      holder.replaceChildren(this.group(conditions, path, null, redraw));
    };
    redraw();
    return holder;
  }

  group(node, path, remove, redraw) {
    const mode = groupMode(node);
    const members = node[mode];
    const modeSelect = select(
      [
        ["all", "all"],
        ["any", "any"],
      ],
      mode,
      {
        class: "inline-select",
        "aria-label": "Match all or any",
        dataset: { role: "group-mode" },
        onchange: (event) => {
          const items = node[mode];
          delete node[mode];
          node[event.target.value] = items;
          this.onChange();
          redraw();
        },
      },
    );
    const list = h("div", { class: "group-members" });
    members.forEach((member, i) => {
      const memberPath = `${path}.${mode}[${i}]`;
      const removeMember = () => {
        members.splice(i, 1);
        this.onChange();
        redraw();
      };
      list.append(
        isGroup(member)
          ? this.group(member, memberPath, removeMember, redraw)
          : this.leaf(member, memberPath, removeMember, redraw),
      );
    });
    if (!members.length) list.append(h("p", { class: "subdued empty" }, "No conditions yet."));
    const add = (item) => () => {
      members.push(item());
      this.onChange();
      redraw();
    };
    return h(
      "div",
      { class: `group ${remove ? "nested" : "root"}`, dataset: { path } },
      h(
        "div",
        { class: "group-head" },
        h("span", {}, remove ? "Group: " : "Runs only when "),
        modeSelect,
        h("span", {}, remove ? " of these are true" : " of these are true, when the step is due"),
        remove
          ? h("button", { type: "button", class: "btn plain critical", onclick: remove }, "Remove group")
          : null,
      ),
      list,
      h(
        "div",
        { class: "group-actions" },
        h("button", { type: "button", class: "btn", dataset: { role: "add-condition" }, onclick: add(() => this.newLeaf()) }, "+ Add condition"),
        h("button", { type: "button", class: "btn plain", dataset: { role: "add-group" }, onclick: add(() => ({ any: [this.newLeaf()] })) }, "+ Add group"),
      ),
    );
  }

  newLeaf() {
    const variable = this.catalog.variables[0];
    const operator = this.operators(variable.name)[0];
    return { name: variable.name, operator: operator.name, value: defaultValue(operator.input_type, variable) };
  }

  leaf(node, path, remove, redraw) {
    const byType = TYPE_GROUPS.map(([type, label]) => ({
      group: label,
      options: this.catalog.variables.filter((v) => v.field_type === type).map((v) => [v.name, v.label]),
    })).filter((g) => g.options.length);
    const known = this.variables.has(node.name);
    if (!known) byType.unshift({ group: "Unknown", options: [[node.name, node.name]] });
    const variableSelect = select(byType, node.name, {
      "aria-label": "Variable",
      dataset: { role: "variable" },
      onchange: (event) => {
        node.name = event.target.value;
        const operators = this.operators(node.name);
        const kept = operators.find((op) => op.name === node.operator);
        const operator = kept || operators[0];
        node.operator = operator.name;
        if (!kept) node.value = defaultValue(operator.input_type, this.variables.get(node.name));
        this.onChange();
        redraw();
      },
    });
    const operators = this.operators(node.name);
    const opOptions = operators.map((op) => [op.name, op.label.toLowerCase()]);
    if (!operators.some((op) => op.name === node.operator)) opOptions.unshift([node.operator, node.operator]);
    const operatorSelect = select(opOptions, node.operator, {
      "aria-label": "Operator",
      dataset: { role: "operator" },
      onchange: (event) => {
        const before = operators.find((op) => op.name === node.operator);
        node.operator = event.target.value;
        const after = operators.find((op) => op.name === node.operator);
        if (!before || before.input_type !== after.input_type) {
          node.value = defaultValue(after.input_type, this.variables.get(node.name));
        }
        this.onChange();
        redraw();
      },
    });
    const operator = operators.find((op) => op.name === node.operator);
    return h(
      "div",
      { class: "cond-row", dataset: { path } },
      variableSelect,
      operatorSelect,
      this.valueInput(node, operator?.input_type, `${path}.value`),
      h("button", { type: "button", class: "icon-btn", title: "Remove condition", "aria-label": "Remove condition", dataset: { role: "remove-condition" }, onclick: remove }, "×"),
    );
  }

  valueInput(node, inputType, path) {
    const changed = (value) => {
      node.value = value;
      this.onChange();
    };
    const variable = this.variables.get(node.name);
    switch (inputType) {
      case "none":
        return h("span", { class: "value-none", dataset: { path } });
      case "numeric":
        return h("input", {
          type: "number",
          step: "any",
          class: "value-number",
          value: node.value ?? "",
          "aria-label": "Value",
          dataset: { path, role: "value" },
          oninput: (event) => changed(numberOrText(event.target.value)),
        });
      case "boolean":
        return h("input", {
          type: "checkbox",
          checked: Boolean(node.value),
          "aria-label": "Value",
          dataset: { path, role: "value" },
          onchange: (event) => changed(event.target.checked),
        });
      case "select":
        if (variable?.options?.length) {
          return select(variable.options.map((o) => [o.name, o.label || humanize(o.name)]), node.value, {
            "aria-label": "Value",
            dataset: { path, role: "value" },
            onchange: (event) => changed(event.target.value),
          });
        }
        break;
      case "select_multiple":
        return this.listInput(node, path, changed);
      default:
        break;
    }
    return h("input", {
      type: "text",
      value: node.value ?? "",
      "aria-label": "Value",
      dataset: { path, role: "value" },
      oninput: (event) => changed(event.target.value),
    });
  }

  // A list value as chips: type and press Enter (or a comma) to add, × to remove.
  listInput(node, path, changed) {
    const values = Array.isArray(node.value) ? node.value : [];
    const chips = h("span", { class: "chips" });
    const input = h("input", {
      type: "text",
      placeholder: values.length ? "" : "Type a value, press Enter",
      "aria-label": "Add a value",
      dataset: { role: "value" },
    });
    const draw = () => {
      chips.replaceChildren(
        ...values.map((value, i) =>
          h("span", { class: "chip" }, String(value), h("button", {
            type: "button",
            "aria-label": `Remove ${value}`,
            onclick: () => {
              values.splice(i, 1);
              changed(values);
              draw();
            },
          }, "×")),
        ),
      );
    };
    const commit = () => {
      const text = input.value.replace(/,$/, "").trim();
      if (text) {
        values.push(text);
        changed(values);
        draw();
      }
      input.value = "";
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === ",") {
        event.preventDefault();
        commit();
      }
    });
    input.addEventListener("blur", commit);
    draw();
    node.value = values;
    return h("span", { class: "list-input", dataset: { path } }, chips, input);
  }
}
