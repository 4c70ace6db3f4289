// The live preview of one step's email: the server renders the draft (POST
// /api/workflows/<name>/preview) for the workflow's latest customer or a sample one, and the
// page shows it in a sandboxed frame. Asked for when the preview scrolls into view, then
// again a moment after each edit; an answer overtaken by a newer edit is dropped.

import { api } from "./session.js";
import { clearErrors, showErrors } from "./errors.js";
import { h } from "./dom.js";

const PAUSE_MS = 400; // after the last keystroke
const TALLEST = 1600;

export class EmailPreview {
  // request: () => the body to post; errorsIn: the element whose fields errors mark
  constructor(workflow, request, errorsIn) {
    this.workflow = workflow;
    this.request = request;
    this.errorsIn = errorsIn;
    this.asked = 0;
    this.started = false;
    this.sample = false;
    this.timer = null;
    this.element = this.render();
    this.watch();
  }

  render() {
    this.subject = h("p", { class: "preview-subject", dataset: { role: "preview-subject" } });
    this.preheader = h("p", { class: "preview-preheader subdued", dataset: { role: "preview-preheader" } });
    this.who = h("span", { class: "subdued", dataset: { role: "preview-customer" } });
    this.status = h("p", { class: "preview-status", role: "status", dataset: { role: "preview-status" } });
    this.frame = h("iframe", {
      class: "preview-frame",
      title: "Email preview",
      // no scripts run inside; same origin only so the page can size the frame to the email
      sandbox: "allow-same-origin allow-popups allow-popups-to-escape-sandbox",
      dataset: { role: "preview-frame" },
      onload: () => this.fit(),
    });
    const sample = h("label", { class: "check" }, h("input", {
      type: "checkbox",
      dataset: { role: "preview-sample" },
      onchange: (event) => {
        this.sample = event.target.checked;
        this.refresh();
      },
    }), "Sample customer");
    return h(
      "div",
      { class: "email-preview", dataset: { role: "email-preview" } },
      h("div", { class: "preview-head" }, h("h4", {}, "Preview"), this.who, sample),
      h("div", { class: "preview-inbox" }, this.subject, this.preheader),
      this.status,
      this.frame,
    );
  }

  // the first preview when it comes into view: a page of closed cards asks for none
  watch() {
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) {
        observer.disconnect();
        this.started = true;
        this.refresh();
      }
    });
    observer.observe(this.element);
  }

  changed() {
    if (!this.started) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), PAUSE_MS);
  }

  async refresh() {
    clearTimeout(this.timer);
    const asked = ++this.asked;
    this.element.classList.add("loading");
    const body = { ...this.request(), ...(this.sample ? { customer: "sample" } : {}) };
    try {
      const answer = await api("POST", `/workflows/${this.workflow}/preview`, body);
      if (asked !== this.asked) return;
      clearErrors(this.errorsIn);
      this.show(answer);
    } catch (error) {
      if (asked !== this.asked) return;
      this.failed(error);
    } finally {
      if (asked === this.asked) this.element.classList.remove("loading");
    }
  }

  show(answer) {
    this.element.classList.remove("stale");
    this.subject.textContent = answer.subject;
    this.preheader.textContent = answer.preheader;
    this.who.textContent = answer.customer.kind === "sample"
      ? "with a sample customer"
      : `for ${answer.customer.label}, the latest customer in this workflow`;
    this.status.textContent = answer.sendgrid_template
      ? "This step sends your SendGrid dynamic template; it gets this email's content as its data."
      : "";
    // links open outside the settings page
    this.frame.srcdoc = answer.html.replace(/<head>/i, '<head><base target="_blank">');
  }

  failed(error) {
    this.element.classList.add("stale");
    if (error.status === 429) {
      const seconds = Number(error.body?.retry_after) || 2;
      this.status.textContent = "Catching up…";
      this.timer = setTimeout(() => this.refresh(), seconds * 1000);
      return;
    }
    const errors = error.fieldErrors;
    if (errors.length) {
      const unplaced = showErrors(this.errorsIn, errors);
      this.status.textContent = unplaced.length
        ? unplaced.map((e) => e.message).join(" ")
        : "Fix the marked fields to see the preview.";
    } else {
      this.status.textContent = `No preview: ${error.message}`;
    }
  }

  fit() {
    const doc = this.frame.contentDocument;
    if (!doc?.documentElement) return;
    this.frame.style.height = `${Math.min(doc.documentElement.scrollHeight, TALLEST)}px`;
  }
}
