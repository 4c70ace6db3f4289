// Topics: a merchant gives one signup topic a series of its own. The new workflow starts as
// a copy of the catch-all topic series (POST /api/topics) and gets its own card to edit.

import { api } from "./session.js";
import { clearErrors, showErrors } from "./errors.js";
import { field, h } from "./dom.js";

export class TopicCard {
  constructor({ workflows, added, toast }) {
    this.added = added; // called with the new workflow
    this.toast = toast;
    const topics = workflows
      .filter((w) => w.definition.trigger?.event === "topic_signup")
      .map((w) => w.definition.trigger.topic)
      .filter((topic) => topic && topic !== "*");
    this.list = h("p", { class: "subdued", dataset: { role: "topics" } }, this.describe(topics));
    this.topics = topics;
    this.nameInput = h("input", { type: "text", placeholder: "skincare", dataset: { path: "topic" } });
    this.element = h(
      "section",
      { class: "card settings", id: "topics" },
      h("div", { class: "card-body" },
        h("p", {}, "Signups for a topic (the storefront form, or a topic:<name> customer tag) get the catch-all topic series unless the topic has one of its own."),
        this.list,
        h("form", { class: "errors-here", onsubmit: (event) => this.add(event) },
          field("New topic", this.nameInput, "Its series starts as a copy of the catch-all one; change its emails in its card."),
          h("button", { type: "submit", class: "btn primary", dataset: { role: "add-topic" } }, "Add topic series"),
        ),
      ),
    );
  }

  describe(topics) {
    return topics.length ? `Topics with their own series: ${topics.join(", ")}.` : "No topic has its own series yet.";
  }

  async add(event) {
    event.preventDefault();
    clearErrors(this.element);
    try {
      const { workflow } = await api("POST", "/topics", { topic: this.nameInput.value });
      this.topics.push(workflow.definition.trigger.topic);
      this.list.textContent = this.describe(this.topics);
      this.nameInput.value = "";
      this.added(workflow);
      this.toast(`Added a series for ${workflow.definition.trigger.topic}`);
    } catch (error) {
      const unplaced = showErrors(this.element, error.fieldErrors || []);
      if (!error.fieldErrors?.length || unplaced.length) this.toast(error.message);
    }
  }
}
