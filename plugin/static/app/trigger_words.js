// What starts a workflow started by an event, in the merchant's words, and which events it
// may switch between. A workflow keeps its kind of trigger (an event, or a sweep:
// sweeps.js) and its subject: what an episode is about (a checkout, an order, a customer)
// decides which anchors its delays count from and which conditions mean anything, so the
// page offers only events that carry the same subject (rules/validation.py, SUBJECT_EVENTS),
// and only those that make sense as a start.

const EVENT_WORDS = {
  checkout_updated: "a shopper who gave their email leaves a checkout unfinished (one enrollment per checkout)",
  order_placed: "a customer places an order (one enrollment per order)",
  order_fulfilled: "an order is fulfilled (one enrollment per order)",
  customer_subscribed: "a customer subscribes to marketing email",
  topic_signup: "a customer signs up for a topic (the storefront form, or a topic:<name> tag)",
};

// Events a workflow about an order may start on instead: the upsell after fulfilment
// rather than at the order, a feedback request at the order rather than at fulfilment.
const CHOICES = {
  order: [
    ["order_placed", "An order is placed"],
    ["order_fulfilled", "An order is fulfilled"],
  ],
};

export function eventStarts(trigger) {
  const event = trigger.event || "an event";
  return EVENT_WORDS[event] || `${String(event).replaceAll("_", " ")} (per ${trigger.subject})`;
}

// The events this trigger may switch to, as [value, label]; none when there is no choice.
// A saved event outside the usual ones stays selectable, so the page never changes it unasked.
export function eventChoices(trigger) {
  const choices = CHOICES[trigger.subject] || [];
  if (!choices.length) return [];
  return choices.some(([value]) => value === trigger.event)
    ? choices
    : [[trigger.event, trigger.event], ...choices];
}
