// "Preview impact": the unsaved draft and the live definition replayed over the last 60
// days of the shop's stored facts (POST /api/workflows/<name>/backtest). Nothing is sent
// or saved; the numbers say what each would have done.

import { api } from "./session.js";
import { h } from "./dom.js";

const ROWS = [
  ["enrolled", "Enrolled"],
  ["would_send", "Would send"],
  ["converted", "Ordered within 7 days of a send"],
];

export async function previewImpact(name, draft, days = 60) {
  const result = await api("POST", `/workflows/${encodeURIComponent(name)}/backtest`, { definition: draft, days });
  return impactTable(result);
}

export function impactTable(result) {
  const draft = result.draft;
  const reasons = [...new Set([...Object.keys(result.live.skipped), ...Object.keys(draft?.skipped || {})])];
  const row = (label, live, changed) =>
    h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, String(live)), draft ? h("td", {}, String(changed)) : null);
  return h(
    "div",
    { class: "impact", dataset: { role: "impact" } },
    h("p", { class: "subdued" },
      `The last ${result.days} days replayed (${result.subjects} to consider, ${result.seconds.toFixed(1)} s). Nothing was sent or saved.`),
    h("table", { class: "impact-table" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "Live"), draft ? h("th", {}, "This draft") : null)),
      h("tbody", {},
        ROWS.map(([key, label]) => row(label, result.live[key], draft?.[key])),
        reasons.map((reason) => row(`Skipped: ${reason}`, result.live.skipped[reason] || 0, draft?.skipped[reason] || 0)),
      ),
    ),
    result.changed.length
      ? h("p", { dataset: { role: "impact-changed" } }, `${result.changed.length}${result.changed.length === 100 ? "+" : ""} customers would get something different, such as ${result.changed.slice(0, 3).map((c) => c.email || c.customer).join(", ")}.`)
      : h("p", { class: "subdued" }, "No customer would get anything different."),
  );
}
