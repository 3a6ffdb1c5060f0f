// One message: its recipients and their statuses, where it came from, and the messages
// around it (`GET /api/v1/trace`). Every field came from a sender: text nodes only.

import { api, type RelatedMessage, type Story } from "../api";
import { h, icon, replace } from "../dom";
import { STATUS_COLORS, formatNumber } from "../format";
import { messageHref } from "../router";

function time(iso: string | null): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
}

function statusCell(status: string | null): HTMLElement {
  const dot = h("span", { class: "status-dot" });
  dot.style.backgroundColor = STATUS_COLORS[status ?? ""] ?? "#adb5bd";
  return h("td", null, dot, h("span", null, status ?? "—"));
}

function fact(label: string, value: Node | string, testid: string): HTMLElement {
  return h("div", { class: "message-fact" }, h("dt", null, label), h("dd", { "data-testid": testid }, value));
}

function related(title: string, rows: RelatedMessage[], testid: string): HTMLElement {
  const body =
    rows.length === 0
      ? h("p", { class: "muted" }, "None within an hour.")
      : h(
          "table",
          { class: "data-table" },
          h("thead", null, h("tr", null, h("th", null, "received"), h("th", null, "message"), h("th", null, "sender"), h("th", { class: "num" }, "recipients"), h("th", null, "subject"))),
          h(
            "tbody",
            null,
            rows.map((row) =>
              h(
                "tr",
                null,
                h("td", { class: "time" }, time(row.received)),
                h("td", null, row.message_id ? h("a", { href: messageHref(row.message_id), "data-testid": "related-link" }, row.message_id) : "—"),
                h("td", null, row.sender ?? "—"),
                h("td", { class: "num" }, formatNumber(row.recipients)),
                h("td", null, row.subject ?? "—"),
              ),
            ),
          ),
        );
  return h("section", { class: "message-section", "data-testid": testid }, h("h2", null, `${title} (${rows.length})`), h("div", { class: "table-wrap" }, body));
}

function render(page: HTMLElement, story: Story): void {
  const origin = story.origin;
  const place = ["city", "region", "country_name"].map((k) => origin[k]).filter((v) => v !== undefined).join(", ");
  const network = origin.asn !== undefined ? `AS${origin.asn}${origin.as_org !== undefined ? ` ${origin.as_org}` : ""}` : "network unknown";
  const threat =
    origin.malicious_confidence !== undefined
      ? h("span", { class: "threat-listed", "data-testid": "threat" }, `listed by the threat feeds (confidence ${origin.malicious_confidence}${origin.actor !== undefined ? `, actor ${origin.actor}` : ""})`)
      : h("span", { "data-testid": "threat" }, "not listed by the threat feeds");
  const statuses = Object.entries(story.statuses)
    .map(([status, n]) => `${formatNumber(n)} ${status}`)
    .join(", ");
  replace(
    page,
    h(
      "header",
      { class: "page-header" },
      h("div", { class: "page-heading" }, h("h1", { class: "page-title", "data-testid": "message-subject" }, story.subject ?? "(no subject)"), h("p", { class: "page-description", "data-testid": "message-id" }, story.message_id ?? story.id)),
    ),
    h(
      "dl",
      { class: "message-facts" },
      fact("Sender", story.sender ?? "—", "message-sender"),
      fact("Received", time(story.received), "message-received"),
      fact("Size", story.size === null ? "—" : `${formatNumber(story.size)} bytes`, "message-size"),
      fact("Tenant", story.organization ?? "—", "message-organization"),
      fact("Sender IP", h("span", null, `${story.from_ip ?? "—"} — ${place || "location unknown"}; ${network}; `, threat), "message-origin"),
      fact("Trace ids", story.trace_ids.join(", "), "message-trace-ids"),
    ),
    h(
      "section",
      { class: "message-section" },
      h("h2", null, `Recipients (${formatNumber(story.recipients.length)}${story.cut ? ", more not shown" : ""}): `, h("span", { "data-testid": "message-statuses" }, statuses)),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data-table", "data-testid": "message-recipients" },
          h("thead", null, h("tr", null, h("th", null, "received"), h("th", null, "recipient"), h("th", null, "status"), h("th", null, "to IP"))),
          h(
            "tbody",
            null,
            story.recipients.map((r) => h("tr", null, h("td", { class: "time" }, time(r.received)), h("td", null, r.recipient ?? "—"), statusCell(r.status), h("td", null, r.to_ip ?? "—"))),
          ),
        ),
      ),
    ),
    related("Same sender within an hour", story.same_sender, "same-sender"),
    related("Same subject within an hour", story.same_subject, "same-subject"),
  );
}

export function renderMessage(page: HTMLElement, params: URLSearchParams): () => void {
  let disposed = false;
  const id = params.get("id") ?? "";
  replace(page, h("div", { class: "loading-page" }, h("div", { class: "spinner" }), "Loading the message…"));
  page.dataset.state = "loading";
  if (id.trim() === "") {
    replace(page, h("div", { class: "empty-state" }, h("h2", null, "No message id"), h("p", { class: "muted" }, "Open a message from a search result, or search for its Message-ID.")));
    page.dataset.state = "error";
    return () => undefined;
  }
  api
    .trace(id)
    .then((story) => {
      if (disposed) return;
      render(page, story);
      page.dataset.state = "done";
    })
    .catch((error: unknown) => {
      if (disposed) return;
      replace(page, h("div", { class: "empty-state", "data-testid": "message-error" }, icon("warning", "empty-icon"), h("h2", null, "This message could not be shown"), h("p", { class: "muted" }, error instanceof Error ? error.message : String(error))));
      page.dataset.state = "error";
    });
  return () => {
    disposed = true;
  };
}
