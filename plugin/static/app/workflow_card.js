// One workflow: its switch, trigger, timing, thresholds, its steps (added, removed, moved:
// step_list.js) with their conditions and emails, numbers and recent decisions. Edits change
// a draft; Save sends it whole (PUT /api/workflows/<name>), which the server validates and
// stores as a new version, or refuses with errors that name each field.

import { api } from "./session.js";
import { confirmDialog, withRelabelConfirmation } from "./confirm_dialog.js";
import { barChart } from "./chart.js";
import { abTestsSection, dailySection, liftSection, revenueSection, skipsSection } from "./results.js";
import { clearErrors, showErrors } from "./errors.js";
import { field, h, humanize, numberOrText, select } from "./dom.js";
import { previewImpact } from "./impact_preview.js";
import { RuleEditor, isGroup } from "./rule_editor.js";
import { StepEditor } from "./step_editor.js";
import { ENROLLED_NOTE, moveStep, newStep } from "./step_list.js";
import { sweepFields, sweepStarts } from "./sweeps.js";
import { eventChoices, eventStarts } from "./trigger_words.js";

const OUTCOMES = { fired: "Ran", skipped: "Skipped", cancelled: "Cancelled" };

function ago(iso) {
  const when = new Date(iso);
  const minutes = Math.round((Date.now() - when.getTime()) / 60000);
  if (minutes < 0 || minutes > 14 * 1440) {
    return when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h ago`;
  return `${Math.round(minutes / 1440)} days ago`;
}

export class WorkflowCard {
  constructor(workflow, { catalog, toast, delivery, report }) {
    this.report = report;
    this.keptBecause = delivery?.kept_because || "never sent";
    this.catalog = catalog;
    this.toast = toast;
    this.saved = workflow;
    this.expanded = false;
    this.element = h("section", { class: "card workflow", dataset: { workflow: workflow.name } });
    this.reset();
  }

  get name() {
    return this.saved.name;
  }

  reset() {
    this.draft = structuredClone(this.saved.definition);
    this.enabled = this.saved.enabled;
    for (const step of this.draft.steps || []) {
      // the editor works on groups; a bare leaf means the same as a group of one
      if (step.conditions && !isGroup(step.conditions)) step.conditions = { all: [step.conditions] };
    }
    this.render();
  }

  get dirty() {
    return (
      this.enabled !== this.saved.enabled ||
      JSON.stringify(this.draft) !== JSON.stringify(this.saved.definition)
    );
  }

  changed() {
    this.footer.hidden = !this.dirty && !this.footerMessage.textContent;
    this.saveButton.disabled = !this.dirty;
    this.discardButton.disabled = !this.dirty;
    this.impactButton.disabled = !this.dirty;
    this.impact.replaceChildren(); // what it showed was for an earlier draft
  }

  async previewImpact() {
    this.impactButton.disabled = true;
    try {
      this.impact.replaceChildren(await previewImpact(this.name, this.draft));
    } catch (error) {
      this.impact.replaceChildren(h("p", { class: "field-error" }, error.message));
    } finally {
      this.impactButton.disabled = !this.dirty;
    }
  }

  render() {
    this.ruleEditor = new RuleEditor(this.catalog, () => this.changed());
    this.stepEditor = new StepEditor(this.catalog, this.name, () => this.draft, () => this.changed(), () => this.save(), {
      move: (i, offset) => this.moveStep(i, offset),
      remove: (i) => this.removeStep(i),
    });
    this.stepsList = h("div", { class: "steps", dataset: { role: "steps" } });
    this.renderSteps();
    this.body = h(
      "div",
      { class: "card-body layout", hidden: !this.expanded },
      h("div", { class: "main" }, this.startSection(), this.stepsList, this.addStepSection(), this.historySection()),
      h("aside", { class: "side" }, this.statsSection(), ...this.resultsSections(), this.activitySection()),
    );
    this.footerMessage = h("div", { class: "footer-message", role: "alert" });
    this.discardButton = h("button", { type: "button", class: "btn", onclick: () => this.reset() }, "Discard");
    this.saveButton = h("button", { type: "button", class: "btn primary", dataset: { role: "save" }, onclick: () => this.save() }, "Save");
    this.impactButton = h("button", { type: "button", class: "btn", dataset: { role: "preview-impact" }, onclick: () => this.previewImpact() }, "Preview impact");
    this.impact = h("div", { class: "impact-slot" });
    this.footer = h("div", { class: "card-footer" }, this.footerMessage, this.impact, h("div", { class: "buttons" }, this.impactButton, this.discardButton, this.saveButton));
    this.element.replaceChildren(...[this.header(), this.problems(), this.body, this.footer].filter(Boolean));
    this.changed();
    if (this.expanded) this.loadActivity();
  }

  // Every step drawn again at its position: each field's data-path ("steps[1].delay.days")
  // names the step where it stands now, as the server's errors for this draft will.
  renderSteps() {
    this.stepsList.replaceChildren(...this.draft.steps.map((step, i) => this.stepEditor.render(step, i, this.ruleEditor)));
  }

  stepElement(id) {
    return this.stepsList.querySelector(`[data-step="${CSS.escape(id)}"]`);
  }

  addStepSection() {
    return h(
      "section",
      { class: "section add-step" },
      h("button", { type: "button", class: "btn", dataset: { role: "add-step" }, onclick: () => this.addStep() }, "+ Add a step"),
      h("p", { class: "subdued small", dataset: { role: "enrolled-note" } }, ENROLLED_NOTE),
    );
  }

  addStep() {
    const step = newStep(this.draft);
    this.draft.steps.push(step);
    this.renderSteps();
    this.changed();
    const added = this.stepElement(step.id);
    added.scrollIntoView({ block: "start" });
    added.querySelector("[data-role='delay-amount']")?.focus({ preventScroll: true });
  }

  moveStep(index, offset) {
    const { id } = this.draft.steps[index];
    if (!moveStep(this.draft.steps, index, offset)) return;
    this.renderSteps();
    this.changed();
    // keep the keyboard on the step that moved: the same button, or the other one at an end
    const moved = this.stepElement(id);
    const same = moved.querySelector(`[data-role='${offset < 0 ? "step-up" : "step-down"}']`);
    const other = moved.querySelector(`[data-role='${offset < 0 ? "step-down" : "step-up"}']`);
    (same.disabled ? other : same).focus();
  }

  async removeStep(index) {
    const step = this.draft.steps[index];
    const agreed = await confirmDialog({
      title: `Remove the step “${humanize(step.id)}”?`,
      text: "Its conditions, its actions and any A/B test of it go once you save. Customers already waiting for it are skipped past it: nothing is sent for it.",
      confirm: "Remove step",
      cancel: "Keep it",
    });
    if (!agreed || this.draft.steps[index] !== step) return;
    this.draft.steps.splice(index, 1);
    this.renderSteps();
    this.changed();
    const next = this.draft.steps[Math.min(index, this.draft.steps.length - 1)];
    const focus = this.stepElement(next.id).querySelector(".step-tools button:not(:disabled)") || this.element.querySelector("[data-role='add-step']");
    focus.focus();
  }

  header() {
    const stats = this.saved.stats;
    const skipped = Object.values(stats.skipped || {}).reduce((a, b) => a + b, 0);
    const toggle = h("button", {
      type: "button",
      role: "switch",
      class: "switch",
      "aria-checked": String(this.enabled),
      "aria-label": `${this.saved.title} is ${this.enabled ? "on" : "off"}`,
      dataset: { path: "enabled", role: "enabled" },
      onclick: () => {
        this.enabled = !this.enabled;
        toggle.setAttribute("aria-checked", String(this.enabled));
        toggle.setAttribute("aria-label", `${this.saved.title} is ${this.enabled ? "on" : "off"}`);
        state.textContent = this.enabled ? "On" : "Off";
        this.changed();
      },
    }, h("span", { class: "knob" }));
    const state = h("span", { class: "switch-state" }, this.enabled ? "On" : "Off");
    const expand = h("button", {
      type: "button",
      class: "btn",
      "aria-expanded": String(this.expanded),
      dataset: { role: "expand" },
      onclick: () => this.setExpanded(!this.expanded),
    }, this.expanded ? "Close" : "Edit");
    this.expandButton = expand;
    const category = this.saved.category === "transactional" ? "Transactional" : "Marketing";
    return h(
      "div",
      { class: "card-header" },
      h(
        "div",
        { class: "title-block" },
        h("h2", {}, this.saved.title, " ", h("span", { class: "badge" }, category), h("span", { class: "badge subtle" }, this.saved.version ? `Version ${this.saved.version}` : "Default")),
        h("p", { class: "subdued" }, this.draft.description || ""),
        h(
          "p",
          { class: "summary" },
          metric(stats.enrolled, "enrolled"),
          metric(stats.sent, stats.sent === 1 ? "email sent" : "emails sent"),
          stats.kept ? metric(stats.kept, `${stats.kept === 1 ? "email" : "emails"} kept (${this.keptBecause})`) : null,
          metric(stats.converted, "converted"),
          metric(skipped, "skipped"),
          this.revenueMetric(),
        ),
      ),
      h("div", { class: "header-actions" }, h("label", { class: "switch-label" }, toggle, state), expand),
    );
  }

  setExpanded(expanded) {
    this.expanded = expanded;
    this.body.hidden = !expanded;
    this.expandButton.textContent = expanded ? "Close" : "Edit";
    this.expandButton.setAttribute("aria-expanded", String(expanded));
    if (expanded) this.loadActivity();
  }

  problems() {
    if (!this.saved.problems?.length) return null;
    return h(
      "div",
      { class: "banner critical" },
      h("strong", {}, "This saved version no longer passes validation, so it is off. Fix these and save:"),
      h("ul", {}, this.saved.problems.map((p) => h("li", {}, p))),
    );
  }

  // trigger, thresholds, consent. The trigger keeps its kind (an event or a sweep) and its
  // subject; its settings, and for an order its event, are the merchant's (trigger_words.js).
  startSection() {
    const d = this.draft;
    const trigger = d.trigger || {};
    const number = (label, path, get, set, help, attrs = {}) =>
      field(label, h("input", {
        type: "number",
        step: "any",
        value: get() ?? "",
        dataset: { path },
        ...attrs,
        oninput: (event) => {
          set(numberOrText(event.target.value));
          this.changed();
        },
      }), help);
    const stops = d.exit_on?.length ? ` Stops at: ${d.exit_on.map((e) => humanize(e).toLowerCase()).join(", ")}.` : "";
    const describe = () => `Starts when ${trigger.sweep ? sweepStarts(trigger) : eventStarts(trigger)}.${stops}`;
    const summary = h("p", { class: "subdued", dataset: { role: "starts" } }, describe());
    const said = (set) => (v) => {
      set(v);
      summary.textContent = describe(); // the sentence follows the settings as they are typed
    };
    const fields = sweepFields(trigger).map(({ param, label, help, list }) =>
      list
        ? field(label, h("input", {
            type: "text",
            value: (trigger[param] || []).join(", "),
            dataset: { path: `trigger.${param}` },
            oninput: (event) => {
              trigger[param] = event.target.value.split(",").map((p) => p.trim()).filter(Boolean);
              this.changed();
            },
          }), help)
        : number(label, `trigger.${param}`, () => trigger[param], said((v) => (trigger[param] = v)), help));
    const choices = trigger.event ? eventChoices(trigger) : [];
    if (choices.length) {
      fields.unshift(field("Event", select(choices, trigger.event, {
        dataset: { path: "trigger.event", role: "trigger-event" },
        onchange: (event) => {
          said((v) => (trigger.event = v))(event.target.value);
          this.changed();
        },
      }), "Each step still counts its delay from what it names."));
    }
    if (trigger.event) {
      // empty: no limit (the key goes, as in a definition that never had one)
      fields.push(number("Max event age (hours)", "trigger.max_age_hours", () => trigger.max_age_hours, (v) => {
        if (v === null) delete trigger.max_age_hours;
        else trigger.max_age_hours = v;
      }, "Older events enroll nobody; empty: no limit."));
    }
    fields.push(
      number("Re-enroll after (days)", "reenroll_after_days", () => d.reenroll_after_days, (v) => (d.reenroll_after_days = v), `Per ${trigger.subject || "subject"}; empty: never.`),
      number("Holdout group (%)", "holdout_percent", () => d.holdout_percent ?? 0, (v) => (d.holdout_percent = v ?? 0), "Enrolled but never messaged, to measure lift.", { min: 0, max: 100 }),
    );
    const consent = field(
      "Consent policy",
      select(
        [
          ["marketing", "Marketing: only customers who agreed to marketing email"],
          ["transactional", "Transactional: about an order the customer placed"],
        ],
        d.category || "marketing",
        {
          dataset: { path: "category" },
          onchange: (event) => {
            d.category = event.target.value;
            this.changed();
          },
        },
      ),
      "Marketing email also keeps to the send window and frequency cap, and carries an unsubscribe link.",
    );
    return h(
      "section",
      { class: "section" },
      h("h3", {}, "When it starts"),
      summary,
      h("div", { class: "grid" }, fields),
      consent,
      this.senderFields(),
    );
  }

  // This workflow's own sender, reply-to and unsubscribe group; empty: the shop-wide ones.
  senderFields() {
    const d = this.draft;
    const text = (key, label, type) =>
      field(label, h("input", {
        type,
        value: d.sender?.[key] ?? "",
        placeholder: "Shop-wide setting",
        dataset: { path: `sender.${key}` },
        oninput: (event) => {
          const raw = event.target.value.trim();
          d.sender = { ...(d.sender || {}), [key]: key === "asm_group_id" ? (raw === "" ? null : numberOrText(raw)) : raw || null };
          if (Object.values(d.sender).every((v) => v === null)) delete d.sender;
          this.changed();
        },
      }));
    return h(
      "div",
      { class: "grid" },
      text("from_email", "Sender email", "email"),
      text("from_name", "Sender name", "text"),
      text("reply_to", "Reply-to email", "email"),
      text("asm_group_id", "Unsubscribe group id", "number"),
    );
  }

  statsSection() {
    const stats = this.saved.stats;
    const skipped = Object.entries(stats.skipped || {}).sort((a, b) => b[1] - a[1]);
    const skippedTotal = skipped.reduce((sum, [, n]) => sum + n, 0);
    return h(
      "section",
      { class: "section" },
      h("h3", {}, "Results"),
      barChart(
        [
          { label: "Enrolled", value: stats.enrolled, tone: "default" },
          { label: "Emails sent", value: stats.sent, tone: "info" },
          ...(stats.kept ? [{ label: "Emails kept", value: stats.kept, tone: "warning" }] : []),
          { label: "Converted", value: stats.converted, tone: "success" },
          { label: "Skipped", value: skippedTotal, tone: "subdued" },
        ],
        { title: `${this.saved.title} results` },
      ),
      // a third "converted", neither the report's credited one nor the lift's: an episode
      // with any order within 7 days after one of its emails or holdout decisions
      // (plugin.pipeline.exits)
      h("p", { class: "subdued small", dataset: { role: "converted-meaning" } }, "All time. Converted: enrollments followed by an order within 7 days of one of their emails (or, held out, of one they would have got)."),
      this.report || skipped.length
        ? null
        : h("p", { class: "subdued" }, "Nothing skipped yet."),
    );
  }

  // The report's period for this workflow (GET /api/report): revenue, lift, skips split.
  resultsSections() {
    if (!this.report) return [];
    const results = this.report.workflows[this.name];
    return [
      revenueSection(results, this.report),
      dailySection(results, this.report),
      liftSection(results?.lift, this.report),
      abTestsSection(results),
      skipsSection(results?.skipped),
    ].filter(Boolean);
  }

  revenueMetric() {
    const results = this.report?.workflows[this.name];
    if (!results?.orders) return null;
    const revenue = results.revenue.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return metric(revenue, `revenue in ${this.report.days} days`);
  }

  activitySection() {
    this.activityList = h("ol", { class: "activity" }, h("li", { class: "subdued" }, "Loading…"));
    return h("section", { class: "section" }, h("h3", {}, "Recent decisions"), this.activityList);
  }

  async loadActivity() {
    try {
      const { activity } = await api("GET", `/activity?workflow=${encodeURIComponent(this.name)}&limit=8`);
      this.activityList.replaceChildren(
        ...(activity.length
          ? activity.map((item) =>
              h("li", {},
                h("div", { class: "activity-head" },
                  h("span", { class: `badge ${item.outcome}` }, OUTCOMES[item.outcome] || humanize(item.outcome)),
                  h("strong", {}, humanize(item.step)),
                ),
                h("p", { class: "reason" }, item.reason || ""),
                h("p", { class: "meta" }, `Customer ${item.customer} · `, h("time", { datetime: item.decided_at }, ago(item.decided_at)))))
          : [h("li", { class: "subdued" }, "No decisions yet. They appear here as steps fall due.")]),
      );
    } catch (error) {
      this.activityList.replaceChildren(h("li", { class: "critical" }, error.message));
    }
  }

  historySection() {
    const list = h("ul", { class: "versions" });
    const details = h("details", { class: "section history" }, h("summary", {}, "Version history"), list);
    details.addEventListener("toggle", async () => {
      if (!details.open) return;
      list.replaceChildren(h("li", { class: "subdued" }, "Loading…"));
      const { versions } = await api("GET", `/workflows/${this.name}`);
      list.replaceChildren(
        ...(versions.length
          ? versions.map((v) =>
              h("li", {},
                h("span", {}, `Version ${v.version} · ${v.enabled ? "on" : "off"} · ${new Date(v.created_at).toLocaleString()}`, v.note ? h("span", { class: "version-note", dataset: { role: "version-note" } }, ` · ${v.note}`) : null),
                v.version === this.saved.version
                  ? h("span", { class: "badge subtle" }, "Current")
                  : h("button", { type: "button", class: "btn plain", onclick: () => this.restore(v.version) }, "Restore")))
          : [h("li", { class: "subdued" }, "Only the default so far.")]),
      );
    });
    return details;
  }

  async restore(version) {
    try {
      const answer = await withRelabelConfirmation(this.saved.title, (confirm) =>
        api("POST", `/workflows/${this.name}/versions/${version}/restore`, confirm));
      if (!answer) return;
      const { workflow } = answer;
      this.accept(workflow);
      this.toast(`Restored as version ${workflow.version}`);
    } catch (error) {
      this.footerMessage.textContent = error.message;
      this.changed();
    }
  }

  accept(workflow) {
    this.saved = { ...workflow, stats: this.saved.stats };
    this.reset();
  }

  async save() {
    this.saveButton.disabled = true;
    this.footerMessage.textContent = "";
    clearErrors(this.element);
    try {
      // relabelling it transactional is asked about first, in the server's own words
      const answer = await withRelabelConfirmation(this.saved.title, (confirm) =>
        api("PUT", `/workflows/${this.name}`, { definition: this.draft, enabled: this.enabled, ...confirm }));
      if (!answer) {
        this.footerMessage.textContent = "Not saved: it is still a marketing workflow.";
        this.changed();
        return;
      }
      const { workflow } = answer;
      this.accept(workflow);
      this.toast(`${workflow.title} saved (version ${workflow.version})`);
    } catch (error) {
      const errors = error.fieldErrors;
      if (errors.length && !this.expanded && errors.some((e) => e.path !== "enabled")) this.setExpanded(true);
      const unplaced = showErrors(this.element, errors);
      const count = errors.length;
      this.footerMessage.replaceChildren(
        h("strong", {}, count ? `Nothing was saved: ${count === 1 ? "1 problem" : `${count} problems`} to fix.` : `Nothing was saved: ${error.message}`),
        h("ul", {}, unplaced.map((e) => h("li", {}, e.path ? `${e.path}: ${e.message}` : e.message))),
      );
      this.footerMessage.classList.add("critical");
      this.changed();
      this.element.querySelector('[aria-invalid="true"], .has-error')?.scrollIntoView({ block: "center" });
    }
  }
}

function metric(value, label) {
  return h("span", { class: "metric" }, h("strong", {}, (value || 0).toLocaleString()), ` ${label}`);
}
