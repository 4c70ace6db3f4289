// A tiny element builder: h("div", {class: "x", onclick: fn}, child, ...). No framework.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key in el && typeof value !== "string") {
      el[key] = value; // properties such as value, checked, disabled
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let ids = 0;
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

// A labelled field; the control carries data-path so API errors can find it.
export function field(label, control, help) {
  const id = control.id || (control.id = uid());
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    help ? h("p", { class: "help" }, help) : null,
  );
}

export function select(options, value, attrs = {}) {
  const el = h("select", attrs);
  for (const option of options) {
    if (option.group) {
      const group = h("optgroup", { label: option.group });
      for (const inner of option.options) group.append(optionEl(inner, value));
      el.append(group);
    } else {
      el.append(optionEl(option, value));
    }
  }
  return el;
}

function optionEl(option, value) {
  const [optionValue, label] = Array.isArray(option) ? option : [option, option];
  const el = h("option", { value: optionValue }, label);
  if (String(optionValue) === String(value)) el.selected = true;
  return el;
}

// Number input value: a number when it is one, else what was typed (the API names it).
export function numberOrText(raw) {
  const text = String(raw).trim();
  if (text === "") return null;
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

export function humanize(name) {
  const text = String(name).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
