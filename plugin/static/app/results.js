// What a workflow brought over the report's period: revenue credited to its emails (last
// touch), what its emails did, the lift against its holdout group with the 95 % interval,
// and its skipped steps split into the merchant's own rule and the safeguards that blocked a
// send. Numbers come from GET /api/report; none is computed here.

import { h } from "./dom.js";
import { dailyChart, intervalChart, shortDate } from "./chart.js";

const money = (value) => value.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const percent = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`);
const points = (value) => `${value >= 0 ? "+" : "−"}${Math.abs(value * 100).toFixed(1)} points`;
const signedMoney = (value) => `${value >= 0 ? "+" : "−"}${money(Math.abs(value))}`;

// The attribution rule, in the merchant's words.
export function attributionRule(report) {
  const { click_window_days: click, delivery_window_days: delivery } = report.attribution;
  const days = (n) => `${n} ${n === 1 ? "day" : "days"}`;
  return delivery > 0
    ? `An order counts for an email when it is placed within ${days(click)} of a click in it or ${days(delivery)} of its delivery; when several emails qualify, the latest one gets it. Customers held out never count.`
    : `An order counts for an email when it is placed within ${days(click)} of a click in it; when several emails qualify, the latest one gets it. Customers held out never count.`;
}

function row(label, value, role) {
  return h("li", { dataset: role ? { role } : undefined }, h("span", {}, label), h("span", { class: "count" }, value));
}

export function revenueSection(results, report) {
  if (!results) {
    return h("section", { class: "section", dataset: { role: "revenue" } }, h("h3", {}, `Last ${report.days} days`), h("p", { class: "subdued" }, "No emails in this period."));
  }
  const people = results.recipients;
  return h(
    "section",
    { class: "section", dataset: { role: "revenue" } },
    h("h3", {}, `Last ${report.days} days`),
    h("p", { class: "revenue-figure" }, h("strong", { dataset: { role: "revenue-total" } }, money(results.revenue)), " revenue from ", String(results.orders), results.orders === 1 ? " order" : " orders"),
    h(
      "ul",
      { class: "reasons figures" },
      row("Emails sent", results.sent.toLocaleString()),
      results.kept ? row("Emails kept (never sent)", results.kept.toLocaleString()) : null,
      row("Delivered", results.delivered.toLocaleString()),
      row("Opened", results.opened.toLocaleString()),
      row("Clicked", results.clicked.toLocaleString()),
      row("Converted (credited orders)", `${results.converted.toLocaleString()} of ${people.toLocaleString()} (${percent(results.conversion_rate)})`, "conversion"),
      row("Revenue per recipient", results.revenue_per_recipient === null ? "—" : money(results.revenue_per_recipient), "revenue-per-recipient"),
    ),
    h("p", { class: "subdued small", dataset: { role: "attribution-rule" } }, attributionRule(report)),
  );
}

// The report's days for this workflow: its emails, the recipients who placed their first
// credited order, and the credited revenue, each per calendar day in the shop's time zone.
export function dailySection(results, report) {
  const title = h("h3", {}, "Per day");
  const none = (what) => h("p", { class: "subdued", dataset: { role: "daily-empty" } }, `${what} in the last ${report.days} days.`);
  const days = results?.daily || [];
  const total = (key) => days.reduce((sum, day) => sum + day[key], 0);
  const emails = total("sent") + total("kept");
  if (!days.length || (!emails && !total("orders"))) {
    return h("section", { class: "section", dataset: { role: "daily" } }, title, none("No emails"));
  }
  const sent = { key: "sent", label: "sent", tone: "info" };
  const kept = { key: "kept", label: "kept (never sent)", tone: "warning" };
  const sends = total("kept") ? (total("sent") ? [sent, kept] : [kept]) : [sent];
  const charts = [
    {
      role: "daily-emails",
      title: sends.length > 1 ? "Emails per day" : sends[0] === kept ? "Emails kept (never sent) per day" : "Emails sent per day",
      series: sends,
      empty: "No emails",
    },
    {
      role: "daily-converted",
      title: "Converted (first credited order) per day",
      series: [{ key: "converted", label: "converted", tone: "success" }],
      empty: "No recipient ordered",
    },
    {
      role: "daily-revenue",
      title: "Credited revenue per day",
      series: [{ key: "revenue", label: "", tone: "default" }],
      empty: "No credited revenue",
      format: money,
    },
  ];
  return h(
    "section",
    { class: "section", dataset: { role: "daily" } },
    title,
    charts.map((chart) => {
      const sum = chart.series.reduce((n, s) => n + total(s.key), 0);
      return h(
        "figure",
        { class: "daily-chart", dataset: { role: chart.role } },
        h("figcaption", {}, h("span", {}, chart.title), h("span", { class: "count" }, (chart.format || ((n) => n.toLocaleString()))(sum))),
        sum ? dailyChart(days, chart.series, { title: chart.title, format: chart.format }) : none(chart.empty),
        sum && chart.series.length > 1 ? legend(chart.series) : null,
      );
    }),
    dailyTable(days, total("kept") > 0),
    h("p", { class: "subdued small" }, `Calendar days in ${report.timezone}; the first and the last are partial. Sum of the days = the totals above.`),
  );
}

// Which mark is which series: the first filled, the next outlined (as dailyChart draws them).
function legend(series) {
  return h(
    "p",
    { class: "chart-legend small" },
    series.map((s, n) => h("span", {}, h("span", { class: `swatch tone-${s.tone}${n > 0 ? " outlined" : ""}`, "aria-hidden": "true" }), s.label)),
  );
}

// The same days as a table, for reading every value (and for screen readers).
function dailyTable(days, withKept) {
  const head = ["Day", "Sent", ...(withKept ? ["Kept"] : []), "Converted", "Orders", "Revenue"];
  return h(
    "details",
    { class: "daily-table" },
    h("summary", {}, "The days as a table"),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, head.map((name) => h("th", { scope: "col" }, name)))),
      h(
        "tbody",
        {},
        days.map((day) =>
          h(
            "tr",
            { dataset: { date: day.date } },
            h("th", { scope: "row" }, shortDate(day.date)),
            h("td", {}, day.sent.toLocaleString()),
            withKept ? h("td", {}, day.kept.toLocaleString()) : null,
            h("td", {}, day.converted.toLocaleString()),
            h("td", {}, day.orders.toLocaleString()),
            h("td", {}, money(day.revenue)),
          ),
        ),
      ),
    ),
  );
}

export function liftSection(lift, report) {
  const title = h("h3", {}, "Lift against the holdout group");
  if (!lift) {
    return h("section", { class: "section", dataset: { role: "lift" } }, title, h("p", { class: "subdued" }, "No holdout group. Set a holdout percentage to measure what this workflow adds."));
  }
  const revenue = lift.revenue_per_recipient;
  // not the credited conversions above: any order within the window counts, clicked or not
  const within = `ordered within ${lift.window_days} ${lift.window_days === 1 ? "day" : "days"}`;
  const groups = h(
    "ul",
    { class: "reasons figures" },
    row("Emailed", `${lift.treated_converted} of ${lift.treated} ${within} (${percent(lift.treated_rate)})`),
    row("Held out", `${lift.holdout_converted} of ${lift.holdout} ${within} (${percent(lift.holdout_rate)})`),
  );
  const window = `Counted: any order within ${lift.window_days} days after the email (or, for the holdout, after the email they would have got), credited to an email or not.`;
  if (!lift.enough_data) {
    return h(
      "section",
      { class: "section", dataset: { role: "lift" } },
      title,
      groups,
      h("p", { class: "notice", dataset: { role: "not-enough-data" } }, `Not enough data yet: each group needs ${report.min_group} people.`),
      h("p", { class: "subdued small" }, window),
    );
  }
  const [low, high] = lift.ci95;
  const verdict = low > 0 ? "The emails raise orders." : high < 0 ? "The emails lower orders." : "No clear difference yet.";
  return h(
    "section",
    { class: "section", dataset: { role: "lift" } },
    title,
    groups,
    h("p", { class: "lift-figure", dataset: { role: "lift-difference" } }, h("strong", {}, points(lift.difference)), ` (95 % interval ${points(low)} to ${points(high)}). `, verdict),
    intervalChart(lift.difference, low, high, { title: "Conversion lift, 95 % interval", format: points }),
    revenue.ci95
      ? h("p", { dataset: { role: "lift-revenue" } }, `Revenue per person: ${signedMoney(revenue.difference)} (95 % interval ${signedMoney(revenue.ci95[0])} to ${signedMoney(revenue.ci95[1])}).`)
      : null,
    h("p", { class: "subdued small" }, window),
  );
}

export function skipsSection(skipped) {
  const list = (title, counts, role) => {
    const entries = Object.entries(counts || {});
    const total = entries.reduce((sum, [, n]) => sum + n, 0);
    return h(
      "div",
      { class: "reasons", dataset: { role } },
      h("h4", {}, `${title} (${total.toLocaleString()})`),
      entries.length
        ? h("ul", {}, entries.slice(0, 6).map(([reason, n]) => h("li", {}, h("span", {}, reason), h("span", { class: "count" }, n.toLocaleString()))))
        : h("p", { class: "subdued" }, "None."),
    );
  };
  return h(
    "section",
    { class: "section", dataset: { role: "skips" } },
    h("h3", {}, "Not sent"),
    list("As designed: your rules", skipped?.as_designed, "skips-as-designed"),
    list("Blocked: consent, suppression, frequency cap", skipped?.blocked, "skips-blocked"),
  );
}

// Where a running test stands with the automatic pick (rules/sequential.py: Haybittle–Peto).
function autoWinnerLine(test) {
  const auto = test.auto_winner;
  if (!auto) return null;
  if (!auto.enabled) {
    return h("p", { class: "help", dataset: { role: "auto-winner" } },
      "Automatic winner off: you pick the winner.");
  }
  const planned = auto.planned_per_variant;
  const fewest = Math.min(...Object.values(test.variants).map((v) => v.recipients));
  const text = fewest >= planned
    ? `Every variant has reached ${planned.toLocaleString("en-US")} recipients: the next hourly` +
      " look decides at 95 % (the control is kept if no variant is ahead)."
    : `Automatic winner: ${fewest.toLocaleString("en-US")} of the planned` +
      ` ${planned.toLocaleString("en-US")} recipients in the smallest variant; until then a` +
      " variant wins only if its 99.9 % interval lies above the control.";
  return h("p", { class: "help", dataset: { role: "auto-winner" } }, text);
}

// Each step's A/B test: every variant's recipients, orders and revenue, and its conversion
// against the control's with the 95 % interval; the winner once there is one.
export function abTestsSection(results) {
  const tests = Object.entries(results?.steps || {}).filter(([, step]) => step.ab_test);
  if (!tests.length) return null;
  return h(
    "section",
    { class: "section", dataset: { role: "ab-tests" } },
    h("h3", {}, "A/B tests"),
    tests.map(([stepId, step]) => {
      const test = step.ab_test;
      const state = test.winner
        ? `Winner: ${test.winner} (everyone gets it now)`
        : test.leading
          ? `${test.leading} is ahead`
          : "Running";
      return h(
        "div",
        { class: "reasons", dataset: { step: stepId } },
        h("h4", {}, `Step ${stepId}: ${state}`),
        test.winner ? null : autoWinnerLine(test),
        h("ul", {}, Object.entries(test.variants).map(([id, v]) => {
          const against = v.against_control;
          const versus = !against
            ? "control"
            : against.ci95
              ? `${points(against.difference)} (${points(against.ci95[0])} to ${points(against.ci95[1])})`
              : "not enough data yet";
          return h(
            "li",
            { dataset: { variant: id } },
            h("span", {}, `${id} · ${v.converted} of ${v.recipients} ordered · ${money(v.revenue)}`),
            h("span", { class: "count" }, versus),
          );
        })),
      );
    }),
  );
}
