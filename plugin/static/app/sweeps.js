// The time-triggered workflows' sweeps: what each one finds, in the merchant's words, and a
// field per setting of its trigger. The sweeps themselves are in plugin/pipeline/enrollment.py
// (the sales-rep alert's thresholds in plugin/storage/browsing.py); rules/validation.py checks
// the same settings when a workflow is saved.

// A number as the sentence shows it; "…" while the field holds something else (the server
// names the problem when the merchant saves).
function shown(value) {
  return typeof value === "number" ? value.toLocaleString() : "…";
}

function count(value, one, many) {
  return `${shown(value)} ${value === 1 ? one : many}`;
}

function sum(a, b) {
  return typeof a === "number" && typeof b === "number" ? a + b : null;
}

export const SWEEPS = {
  reorder_due: {
    starts: (t) =>
      `a sweep finds customers whose expected re-order date (from their own rhythm between orders) is within ${count(t.lead_days, "day", "days")}`,
    fields: [
      { param: "lead_days", label: "Look ahead (days)", help: "Enroll this many days before the expected re-order." },
    ],
  },
  inactive: {
    starts: (t) =>
      `a sweep finds customers who have ordered before but have had no order and no email engagement for ${count(t.inactive_days, "day", "days")}`,
    fields: [
      { param: "inactive_days", label: "Inactive for (days)", help: "No order and no email engagement for this long." },
    ],
  },
  lead: {
    starts: (t) =>
      `a sweep finds subscribers who have never ordered and subscribed between ${shown(t.after_days)} and ${count(sum(t.after_days, t.within_days), "day", "days")} ago`,
    fields: [
      { param: "after_days", label: "Start after subscribing (days)", help: "How long a subscriber goes without ordering before the series starts." },
      { param: "within_days", label: "Subscribed within (days)", help: "Only those who subscribed at most this many days before that: switching the series on leaves long-standing subscribers alone." },
    ],
  },
  high_intent: {
    starts: (t) =>
      `a known customer views the high-intent pages ${count(t.page_views, "time", "times")} within ${count(t.window_hours, "hour", "hours")}, or leaves a cart of ${shown(t.cart_value)} or more open for ${count(t.cart_idle_hours, "hour", "hours")} (a sweep looks for both; page views are also checked as they arrive)`,
    fields: [
      { param: "pages", label: "High-intent pages", help: "Page paths, separated by commas; a visit to a page under one counts.", list: true },
      { param: "page_views", label: "Page views", help: "Visits to those pages that make an alert." },
      { param: "window_hours", label: "Within (hours)", help: "How recent those visits must be." },
      { param: "cart_value", label: "Cart value", help: "A cart worth at least this much makes an alert." },
      { param: "cart_idle_hours", label: "Cart left for (hours)", help: "How long the cart waits untouched first." },
    ],
  },
};

// "Starts when …" for a sweep trigger; a sweep this page does not know yet is named as such.
export function sweepStarts(trigger) {
  const sweep = SWEEPS[trigger.sweep];
  return sweep ? sweep.starts(trigger) : `the "${trigger.sweep}" sweep finds a customer`;
}

export function sweepFields(trigger) {
  return SWEEPS[trigger.sweep]?.fields || [];
}
