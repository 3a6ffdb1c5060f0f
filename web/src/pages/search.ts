// Ad hoc search: the query editor, time range, results with paging, a chart when the
// result's shape allows, CSV/JSON export of every row, and the history of past searches.

import { ApiError, api, queryAll, type QueryResult, type TimeRangeSpec } from "../api";
import { button, h, icon, replace, toast } from "../dom";
import { createEditor } from "../editor/editor";
import { chartableType, renderVisualization, type Dispose } from "../charts/visualize";
import { renderTable } from "../charts/table";
import { rangeFromParams, rangePicker, rangeToParams, timeZoneSelect } from "../controls";
import { formatNumber, formatCell } from "../format";
import { messageHref, replaceParams } from "../router";
import { browserTimeZone, describeRange, resolveRange } from "../time";

const HISTORY_KEY = "mailscope.history";
const HISTORY_MAX = 50;
const PAGE_SIZE = 100;
/** A search that is only a Message-ID (`<local@domain>`). */
const BARE_MESSAGE_ID = /^<[^<>\s"]+@[^<>\s"]+>$/;

interface HistoryEntry {
  query: string;
  range: TimeRangeSpec;
  at: string;
}

function loadHistory(): HistoryEntry[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? "[]") as unknown;
    return Array.isArray(parsed) ? (parsed.filter((e) => e && typeof e.query === "string") as HistoryEntry[]) : [];
  } catch {
    return [];
  }
}

function remember(entry: HistoryEntry): void {
  const list = loadHistory().filter((e) => e.query !== entry.query);
  list.unshift(entry);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(list.slice(0, HISTORY_MAX)));
}

/** The part of a query that tells searches apart: the stages after a plain scope. */
function historyLabel(query: string): string {
  const flat = query.replace(/\s+/g, " ").trim();
  const stages = flat.replace(/^_sourceCategory=\S+\s*(?=\|)/, "");
  return (stages.startsWith("|") ? `… ${stages}` : stages).slice(0, 200);
}

const EXAMPLE = `_sourceCategory=* 
| json "Status", "SenderAddress" as status, sender_address
| count by status
| sort by _count`;

export function renderSearch(page: HTMLElement, params: URLSearchParams): () => void {
  let disposed = false;
  let range = rangeFromParams(params, { relative: "-24h" });
  let tz = params.get("tz") ?? browserTimeZone();
  const variables: Record<string, string> = {};
  for (const [key, value] of params) if (key.startsWith("v.")) variables[key.slice(2)] = value;
  let chartDispose: Dispose | null = null;
  let running: AbortController | null = null;
  let runningId: string | null = null;
  let lastRequest: { query: string; from: string; to: string; tz: string; variables: Record<string, string> } | null = null;
  let total = 0;
  let offset = 0;
  /** The keywords of the search's scope (from its first page), marked on every page. */
  let keywords: string[] = [];

  const syncUrl = (query: string) => {
    const next = new URLSearchParams();
    if (query) next.set("q", query);
    rangeToParams(range, next);
    if (tz !== browserTimeZone()) next.set("tz", tz);
    for (const [k, v] of Object.entries(variables)) next.set(`v.${k}`, v);
    replaceParams(["search"], next);
  };

  const editorHost = h("div", { class: "code-editor", "data-testid": "search-editor" });
  const diagnosticsBox = h("ul", { class: "diagnostics", "data-testid": "diagnostics", hidden: true });
  const editor = createEditor(editorHost, {
    doc: params.get("q") ?? "",
    onRun: () => void run(),
    onChange: () => {
      diagnosticsBox.hidden = true;
    },
    placeholder: EXAMPLE,
  });

  const picker = rangePicker(range, () => tz, (next) => {
    range = next;
  });
  const tzControl = timeZoneSelect(tz, (next) => {
    tz = next;
  });
  const runButton = button("Run", () => void run(), { kind: "primary", icon: "play", testid: "run", title: "Run (Ctrl+Enter)" });
  const shortcut = h("span", { class: "muted shortcut" }, navigator.platform.includes("Mac") ? "⌘ + Enter" : "Ctrl + Enter");

  const variableChips = h("div", { class: "variable-chips", hidden: Object.keys(variables).length === 0 });
  const drawVariables = () => {
    const chips = Object.entries(variables).map(([name, value]) => {
      const input = h("input", { class: "input input-chip", value, "aria-label": name, "data-variable": name });
      input.addEventListener("change", () => {
        variables[name] = input.value.trim() === "" ? "*" : input.value.trim();
      });
      return h("label", { class: "chip" }, h("span", { class: "chip-name" }, `{{${name}}}`), input);
    });
    replace(variableChips, h("span", { class: "field-label" }, "Variables"), chips);
  };
  drawVariables();

  const meta = h("div", { class: "results-meta", "data-testid": "results-meta" });
  const exportCsv = button("CSV", () => void exportAll("csv"), { icon: "download", testid: "export-csv", kind: "ghost" });
  const exportJson = button("JSON", () => void exportAll("json"), { icon: "download", testid: "export-json", kind: "ghost" });
  const exportBar = h("div", { class: "export-bar", hidden: true }, h("span", { class: "muted" }, "Export"), exportCsv, exportJson);
  const chartBox = h("div", { class: "search-chart", hidden: true, "data-testid": "search-chart" });
  const tableBox = h("div", { class: "search-table", "data-testid": "results" });
  const pager = h("div", { class: "pager", hidden: true });
  const resultsCard = h(
    "section",
    { class: "card results-card" },
    h("div", { class: "results-header" }, meta, exportBar),
    chartBox,
    tableBox,
    pager,
  );
  replace(tableBox, h("div", { class: "empty-state small" }, icon("search", "empty-icon"), h("p", { class: "muted" }, "Write a query and press Run.")));

  const historyList = h("ol", { class: "history-list", "data-testid": "history" });
  const drawHistory = () => {
    const entries = loadHistory();
    if (entries.length === 0) {
      replace(historyList, h("li", { class: "muted history-empty" }, "Searches you run appear here."));
      return;
    }
    replace(
      historyList,
      entries.map((entry) => {
        const item = h(
          "button",
          { type: "button", class: "history-item", "data-testid": "history-item", title: entry.query },
          h("span", { class: "history-query mono" }, historyLabel(entry.query)),
          h("span", { class: "history-when muted" }, `${describeRange(entry.range, tz)} · ${new Date(entry.at).toLocaleString()}`),
        );
        item.addEventListener("click", () => {
          editor.setText(entry.query);
          range = entry.range;
          picker.set(range);
          void run();
        });
        return h("li", null, item);
      }),
    );
  };
  drawHistory();

  replace(
    page,
    h("header", { class: "page-header" }, h("div", { class: "page-heading" }, h("h1", { class: "page-title" }, "Search"), h("p", { class: "page-description" }, "Query message trace records with the pipeline query language."))),
    h(
      "div",
      { class: "search-layout" },
      h(
        "div",
        { class: "search-main" },
        h(
          "section",
          { class: "card editor-card" },
          editorHost,
          diagnosticsBox,
          variableChips,
          h("div", { class: "editor-toolbar" }, picker.element, tzControl, h("div", { class: "spacer" }), shortcut, runButton),
        ),
        resultsCard,
      ),
      h("aside", { class: "card history-card" }, h("h2", { class: "section-title" }, icon("history"), "History"), historyList),
    ),
  );

  async function showPage(newOffset: number): Promise<void> {
    if (!lastRequest) return;
    offset = newOffset;
    try {
      const result = await api.query({ ...lastRequest, offset, limit: PAGE_SIZE });
      if (disposed) return;
      drawTable(result);
    } catch (error) {
      toast(error instanceof Error ? error.message : String(error), "error");
    }
  }

  function drawTable(result: QueryResult): void {
    total = result.total_rows ?? result.rows.length;
    if (result.rows.length === 0) {
      replace(tableBox, h("div", { class: "empty-state small" }, h("p", { class: "muted" }, "No results in this time range.")));
    } else {
      renderTable(tableBox, result, { tz, highlight: keywords });
    }
    pager.hidden = total <= PAGE_SIZE;
    const prev = button("Previous", () => void showPage(Math.max(0, offset - PAGE_SIZE)), { testid: "page-prev" });
    const next = button("Next", () => void showPage(offset + PAGE_SIZE), { testid: "page-next" });
    prev.disabled = offset === 0;
    next.disabled = offset + PAGE_SIZE >= total;
    replace(
      pager,
      h("span", { class: "muted", "data-testid": "page-info" }, `Rows ${formatNumber(total === 0 ? 0 : offset + 1)}–${formatNumber(Math.min(total, offset + result.rows.length))} of ${formatNumber(total)}`),
      prev,
      next,
    );
  }

  async function run(): Promise<void> {
    const query = editor.text();
    if (query.trim() === "") {
      editor.focus();
      return;
    }
    running?.abort();
    if (runningId) void api.cancel(runningId);
    const controller = new AbortController();
    running = controller;
    runningId = `search-${Date.now()}`;
    const resolved = resolveRange(range);
    lastRequest = { query, from: resolved.from, to: resolved.to, tz, variables: { ...variables } };
    syncUrl(query);
    remember({ query, range, at: new Date().toISOString() });
    drawHistory();
    editor.clearDiagnostics();
    diagnosticsBox.hidden = true;
    runButton.disabled = true;
    resultsCard.classList.add("is-loading");
    replace(meta, h("span", { class: "spinner spinner-small" }), "Running…");
    page.dataset.state = "running";
    try {
      const result = await api.query({ ...lastRequest, offset: 0, limit: PAGE_SIZE, id: runningId }, controller.signal);
      if (disposed || controller.signal.aborted) return;
      offset = 0;
      keywords = Array.isArray(result.keywords) ? result.keywords.filter((k) => typeof k === "string") : [];
      const warnings = result.warnings.length > 0 ? h("span", { class: "badge badge-warn", title: result.warnings.join("\n") }, `${result.warnings.length} warning${result.warnings.length > 1 ? "s" : ""}`) : null;
      // A search for a bare Message-ID offers the message's own page.
      const bare = query.trim();
      const openMessage = BARE_MESSAGE_ID.test(bare)
        ? h("a", { href: messageHref(bare), class: "open-message", "data-testid": "open-message" }, "Open this message")
        : null;
      replace(
        meta,
        h("strong", { "data-testid": "total-rows" }, `${formatNumber(result.total_rows)} row${result.total_rows === 1 ? "" : "s"}`),
        h("span", { class: "muted" }, result.cached ? "cached" : `${formatNumber(result.elapsed_ms)} ms`),
        h("span", { class: "muted" }, describeRange(range, tz)),
        warnings,
        openMessage,
      );
      exportBar.hidden = result.rows.length === 0;
      chartDispose?.();
      chartDispose = null;
      const chartType = chartableType(result);
      if (chartType && result.total_rows <= PAGE_SIZE) {
        chartBox.hidden = false;
        chartDispose = renderVisualization(chartBox, chartType, result, { tz, options: {} });
      } else {
        chartBox.hidden = true;
        replace(chartBox);
      }
      drawTable(result);
      page.dataset.state = "done";
    } catch (error) {
      if (disposed || controller.signal.aborted) return;
      page.dataset.state = "error";
      exportBar.hidden = true;
      chartBox.hidden = true;
      if (error instanceof ApiError && error.diagnostics.length > 0) {
        editor.showDiagnostics(error.diagnostics);
        replace(
          diagnosticsBox,
          error.diagnostics.map((d) =>
            h(
              "li",
              { class: "diagnostic" },
              h("span", { class: "diagnostic-code mono" }, d.code),
              h("span", { class: "diagnostic-where muted" }, d.line ? `line ${d.line}, column ${d.column ?? 1}` : ""),
              h("span", { class: "diagnostic-message" }, d.message),
              d.hint ? h("span", { class: "diagnostic-hint muted" }, d.hint) : null,
            ),
          ),
        );
        diagnosticsBox.hidden = false;
        replace(meta, h("span", { class: "text-error" }, "The query does not compile"));
        replace(tableBox, h("div", { class: "empty-state small" }, h("p", { class: "muted" }, "Fix the underlined part of the query and run it again.")));
      } else {
        replace(meta, h("span", { class: "text-error", "data-testid": "search-error" }, error instanceof Error ? error.message : String(error)));
        replace(tableBox);
      }
      pager.hidden = true;
    } finally {
      if (running === controller) {
        running = null;
        runningId = null;
        runButton.disabled = false;
        resultsCard.classList.remove("is-loading");
      }
    }
  }

  async function exportAll(format: "csv" | "json"): Promise<void> {
    if (!lastRequest) return;
    const buttonUsed = format === "csv" ? exportCsv : exportJson;
    buttonUsed.disabled = true;
    try {
      const result = await queryAll(lastRequest);
      let blob: Blob;
      if (format === "json") {
        const objects = result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i] ?? null])));
        blob = new Blob([JSON.stringify(objects, null, 2)], { type: "application/json" });
      } else {
        const escape = (value: string) => (/[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
        const lines = [result.columns.map(escape).join(",")];
        for (const row of result.rows) {
          lines.push(
            row
              .map((cell, i) => (cell === null ? "" : result.types[i] === "time" ? formatCell(cell, "time", tz) : escape(String(cell))))
              .join(","),
          );
        }
        blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" });
      }
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `mailscope-${new Date().toISOString().slice(0, 19).replace(/:/g, "")}.${format}`, class: "hidden" });
      document.body.appendChild(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
      toast(`Exported ${formatNumber(result.rows.length)} rows`, "success");
    } catch (error) {
      toast(error instanceof Error ? error.message : String(error), "error");
    } finally {
      buttonUsed.disabled = false;
    }
  }

  if (params.get("q")) void run();
  else editor.focus();

  return () => {
    disposed = true;
    running?.abort();
    if (runningId) void api.cancel(runningId);
    chartDispose?.();
    editor.destroy();
  };
}
