// Put API validation errors next to the fields they name. An error's path
// ("steps[1].conditions.all[2].value") is matched against the data-path of the elements in
// a container; when no element has the exact path, its parents are tried
// ("steps[1].conditions.all[2]", then "steps[1].conditions", ...). Errors no field claims
// are returned, for a banner.

import { h } from "./dom.js";

export function clearErrors(container) {
  container.querySelectorAll(".field-error").forEach((el) => el.remove());
  container.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  container.querySelectorAll(".has-error").forEach((el) => el.classList.remove("has-error"));
}

function parentPath(path) {
  const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
  return cut > 0 ? path.slice(0, cut) : "";
}

function findTarget(container, path) {
  for (let p = path; p; p = parentPath(p)) {
    const el = container.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (el) return el;
  }
  return null;
}

export function showErrors(container, errors) {
  clearErrors(container);
  const unplaced = [];
  for (const error of errors) {
    const target = error.path ? findTarget(container, error.path) : null;
    if (!target) {
      unplaced.push(error);
      continue;
    }
    if (target.matches("input, select, textarea")) target.setAttribute("aria-invalid", "true");
    const holder = target.closest(".field, .cond-row, .group, .step, .errors-here") || target;
    holder.classList.add("has-error");
    holder.append(h("p", { class: "field-error", dataset: { errorFor: error.path } }, error.message));
  }
  return unplaced;
}
