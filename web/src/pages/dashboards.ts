// The list of dashboards: the installed app's and the user's own.

import { api, type DashboardSummary } from "../api";
import { h, icon, replace } from "../dom";
import { href } from "../router";

function card(summary: DashboardSummary): HTMLElement {
  const modified = summary.modified ? new Date(summary.modified) : null;
  return h(
    "a",
    { class: "dashboard-card", href: href(["dashboards", summary.id]), "data-dashboard-id": summary.id, "data-testid": "dashboard-card" },
    h("div", { class: "dashboard-card-icon" }, icon("dashboard")),
    h(
      "div",
      { class: "dashboard-card-body" },
      h("h3", null, summary.title),
      summary.description ? h("p", { class: "muted clamp" }, summary.description) : null,
      h(
        "div",
        { class: "dashboard-card-meta" },
        summary.app ? h("span", { class: "badge badge-app" }, `App ${summary.app.version}`) : h("span", { class: "badge" }, "Custom"),
        summary.edited ? h("span", { class: "badge badge-warn" }, "Edited") : null,
        summary.source_category ? h("span", { class: "mono muted" }, summary.source_category) : null,
        modified && !Number.isNaN(modified.getTime()) ? h("span", { class: "muted" }, `Modified ${modified.toLocaleDateString()}`) : null,
      ),
    ),
  );
}

export function renderDashboardList(page: HTMLElement): () => void {
  let disposed = false;
  const body = h("div", { class: "loading-page" }, h("div", { class: "spinner" }), "Loading dashboards…");
  replace(
    page,
    h(
      "header",
      { class: "page-header" },
      h("div", { class: "page-heading" }, h("h1", { class: "page-title" }, "Dashboards"), h("p", { class: "page-description" }, "Message trace analytics for your Exchange Online tenants.")),
    ),
    body,
  );
  api
    .dashboards()
    .then((list) => {
      if (disposed) return;
      if (list.length === 0) {
        replace(
          body,
          h(
            "div",
            { class: "empty-state" },
            icon("dashboard", "empty-icon"),
            h("h2", null, "No dashboards yet"),
            h("p", { class: "muted" }, "Install the Microsoft Exchange Trace Logs app to get the Overview and Message Monitoring dashboards."),
            h("a", { class: "btn btn-primary", href: href(["apps"]) }, "Go to Apps"),
          ),
        );
        body.className = "";
        return;
      }
      const rank = (d: DashboardSummary) => (d.app?.key === "overview" ? 0 : 1);
      const appBoards = list.filter((d) => d.app !== null).sort((a, b) => rank(a) - rank(b) || a.title.localeCompare(b.title));
      const own = list.filter((d) => d.app === null);
      const sections: HTMLElement[] = [];
      if (appBoards.length > 0) sections.push(h("section", { class: "card-section" }, h("h2", { class: "section-title" }, "From apps"), h("div", { class: "card-grid" }, appBoards.map(card))));
      if (own.length > 0) sections.push(h("section", { class: "card-section" }, h("h2", { class: "section-title" }, "Your dashboards"), h("div", { class: "card-grid" }, own.map(card))));
      body.className = "";
      replace(body, sections);
    })
    .catch((error: unknown) => {
      if (disposed) return;
      body.className = "";
      replace(body, h("div", { class: "empty-state" }, icon("warning", "empty-icon"), h("h2", null, "Dashboards could not be loaded"), h("p", { class: "muted" }, error instanceof Error ? error.message : String(error))));
    });
  return () => {
    disposed = true;
  };
}
