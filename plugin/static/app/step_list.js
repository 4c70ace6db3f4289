// A workflow's list of steps as the merchant shapes it: a step added after the last, one
// removed, one moved up or down. Each works on the draft definition; the server validates
// the whole list on Save (rules/validation.py), as with any other edit.
//
// Customers already enrolled keep the steps and due times they were given when they
// enrolled, found by step id (plugin/pipeline/enrollment.py, due_steps.py): a step removed
// since is skipped when it falls due, one added since reaches only later enrollments, and a
// step keeps its id (and so its A/B results) wherever it is moved.

// The one sentence the card shows about them, beside "Add a step".
export const ENROLLED_NOTE =
  "Customers already in this workflow keep the steps and times they were given when they enrolled: a step you add reaches only those who enroll after you save, and one you remove is skipped for everyone still waiting for it, never sent.";

const SENDS_EMAIL = (step) => (step.actions || []).some((a) => a.name === "send_email");

// A step id not yet taken: follow_up, follow_up_2, ...
export function freeStepId(steps, base = "follow_up") {
  const taken = new Set(steps.map((s) => s.id));
  if (!taken.has(base)) return base;
  let n = 2;
  while (taken.has(`${base}_${n}`)) n += 1;
  return `${base}_${n}`;
}

// The step "Add a step" appends: three days after the step before it (counted from that
// step, as the topic series does, so it stays three days behind whatever precedes it when it
// is moved), with the conditions of the last step that emails (every shipped step repeats its
// own guards, and consent is one of them: an empty list would write to customers who never
// agreed to marketing), sending the workflow's first email design (its opening message,
// never an offer: this step creates no discount). A workflow that sends no email (the sales
// rep alert) gets another of its last step's actions.
export function newStep(definition) {
  const steps = definition.steps || [];
  const emailing = steps.filter(SENDS_EMAIL);
  const source = emailing.at(-1) || steps.at(-1);
  const firstEmail = emailing[0]?.actions.find((a) => a.name === "send_email");
  const template = firstEmail?.params?.template;
  const actions = template
    ? [{ name: "send_email", params: { template } }]
    : structuredClone((source?.actions || []).slice(-1));
  return {
    id: freeStepId(steps),
    delay: { days: 3, from: "previous_step" },
    conditions: structuredClone(source?.conditions || { all: [] }),
    actions,
  };
}

// Move the step at `index` by `offset` (-1: up, 1: down); false when it cannot go there.
export function moveStep(steps, index, offset) {
  const target = index + offset;
  if (target < 0 || target >= steps.length) return false;
  const [step] = steps.splice(index, 1);
  steps.splice(target, 0, step);
  return true;
}
