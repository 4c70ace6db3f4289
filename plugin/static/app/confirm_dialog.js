// A modal question the merchant answers before a save that changes what customers get:
// a native <dialog>, named by its heading, the consequence in its text; resolves true only
// for the confirming button (Escape and the other button answer false).

import { h } from "./dom.js";

export function confirmDialog({ title, text, confirm, cancel }) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm-dialog", "aria-labelledby": "confirm-dialog-title", dataset: { role: "confirm-dialog" } },
      h("h2", { id: "confirm-dialog-title" }, title),
      h("p", {}, text),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", class: "btn", dataset: { role: "cancel" }, onclick: () => dialog.close("cancel") }, cancel),
        h("button", { type: "button", class: "btn critical", dataset: { role: "confirm" }, onclick: () => dialog.close("confirm") }, confirm),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Run a save; when the server asks for the transactional relabel to be confirmed (409 with
// "confirm": "confirm_transactional"), ask the merchant with its own words and, if they
// agree, run it again confirmed. Returns the save's answer, or null when they declined.
export async function withRelabelConfirmation(title, save) {
  try {
    return await save({});
  } catch (error) {
    if (error.status !== 409 || error.body?.confirm !== "confirm_transactional") throw error;
    const agreed = await confirmDialog({
      title: `Relabel “${title}” as transactional?`,
      text: error.message,
      confirm: "Relabel as transactional",
      cancel: "Keep it marketing",
    });
    return agreed ? save({ confirm_transactional: true }) : null;
  }
}
