// The collectors this server runs, one per tenant (`GET /api/v1/collectors`): what each is
// doing, how far behind now it is, its last error, and where its Organization comes from.
// Errors and notes come from Microsoft's answers: text nodes only.

import { api, type CollectorStatus } from "../api";
import { h, icon, replace } from "../dom";
import { formatNumber } from "../format";

const STATE_LABELS: Record<string, string> = {
  starting: "Starting",
  backfilling: "Backfilling",
  collecting: "Collecting",
  failing: "Failing",
  stopped: "Stopped",
};

const SOURCE_LABELS: Record<string, string> = {
  configured: "configured",
  tenant: "learned from the tenant",
  records: "named by each row",
  none: "unknown",
};

function time(iso: string | null): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
}

function lag(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

/** How far a backfill has come: the checkpoint's place between the poll's start and target. */
function progress(status: CollectorStatus): HTMLElement | null {
  if (status.state !== "backfilling" || !status.poll_start || !status.poll_target) return null;
  const start = Date.parse(status.poll_start);
  const target = Date.parse(status.poll_target);
  const at = status.checkpoint ? Date.parse(status.checkpoint) : start;
  const share = target > start ? Math.min(1, Math.max(0, (at - start) / (target - start))) : 0;
  const bar = h("progress", { max: "100", value: String(Math.round(share * 100)), "data-testid": "backfill-progress" });
  return h("div", { class: "collector-progress" }, bar, h("span", { class: "muted" }, ` ${Math.round(share * 100)} % of the backfill`));
}

function card(status: CollectorStatus): HTMLElement {
  const state = h("span", { class: `badge collector-state collector-${status.state}`, "data-testid": "collector-state" }, STATE_LABELS[status.state] ?? status.state);
  const organization = h(
    "dd",
    { "data-testid": "collector-organization" },
    status.organization ?? "none",
    h("span", { class: "muted" }, ` (${SOURCE_LABELS[status.organization_source] ?? status.organization_source})`),
  );
  const facts = h(
    "dl",
    { class: "collector-facts" },
    h("dt", null, "API"),
    h("dd", null, status.api === "graph" ? "Microsoft Graph" : "Reporting Web Service"),
    h("dt", null, "Organization"),
    organization,
    status.organization_note ? h("dt", null, "") : null,
    status.organization_note ? h("dd", { class: "muted", "data-testid": "collector-organization-note" }, status.organization_note) : null,
    h("dt", null, "Collected until"),
    h("dd", { "data-testid": "collector-checkpoint" }, time(status.checkpoint)),
    h("dt", null, "Behind now"),
    h("dd", null, lag(status.lag_seconds)),
    h("dt", null, "Last success"),
    h("dd", null, time(status.last_success)),
    h("dt", null, "Records"),
    h("dd", null, `${formatNumber(status.records)} received · ${formatNumber(status.inserted)} new · ${formatNumber(status.updated)} updated`),
    h("dt", null, "Polls"),
    h("dd", null, `${formatNumber(status.polls)} · ${formatNumber(status.failed_polls)} failed · ${formatNumber(status.windows)} windows`),
  );
  const error = status.last_error
    ? h("div", { class: "collector-error", role: "alert", "data-testid": "collector-error" }, icon("warning"), h("span", null, `${time(status.last_error_at)}: ${status.last_error}`))
    : null;
  return h(
    "section",
    { class: "card collector-card", "data-testid": "collector", "data-tenant": status.tenant },
    h("header", { class: "collector-header" }, h("h2", null, status.tenant), state),
    progress(status),
    facts,
    error,
  );
}

export function renderCollectors(page: HTMLElement): () => void {
  let disposed = false;
  const body = h("div", { class: "loading-page" }, h("div", { class: "spinner" }), "Loading collectors…");
  replace(
    page,
    h(
      "header",
      { class: "page-header" },
      h("div", { class: "page-heading" }, h("h1", { class: "page-title" }, "Collectors"), h("p", { class: "page-description" }, "The tenants this server collects message trace from.")),
    ),
    body,
  );
  const load = (): void => {
    api
      .collectors()
      .then((answer) => {
        if (disposed) return;
        body.className = "";
        if (answer.collectors.length === 0) {
          replace(
            body,
            h(
              "div",
              { class: "empty-state" },
              icon("download", "empty-icon"),
              h("h2", null, "No collectors"),
              h("p", { class: "muted" }, "Start the server with a collector configuration (mailscope serve --collect FILE) to collect from Microsoft's APIs."),
            ),
          );
          return;
        }
        replace(body, h("div", { class: "collector-list" }, answer.collectors.map(card)));
      })
      .catch((error: unknown) => {
        if (disposed) return;
        body.className = "";
        replace(body, h("div", { class: "empty-state" }, icon("warning", "empty-icon"), h("h2", null, "Collectors could not be loaded"), h("p", { class: "muted" }, error instanceof Error ? error.message : String(error))));
      });
  };
  load();
  const timer = window.setInterval(load, 10_000);
  return () => {
    disposed = true;
    window.clearInterval(timer);
  };
}
