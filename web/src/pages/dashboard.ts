// One dashboard: the filters, time range, time zone and auto-refresh in the header (all in
// the URL), and the panels on a 12-column grid, each running its own query in parallel.

import { ApiError, api, type Dashboard, type Panel, type QueryResult, type TimeRangeSpec } from "../api";
import { button, clear, h, icon, replace, toast, confirmAction } from "../dom";
import { renderVisualization, isEmptyResult, type Dispose } from "../charts/visualize";
import { rangeFromParams, rangePicker, rangeToParams, refreshSelect, timeZoneSelect, REFRESH_CHOICES } from "../controls";
import { formatNumber } from "../format";
import { href, navigate, replaceParams } from "../router";
import { browserTimeZone, describeRange, resolveRange } from "../time";
import { editDetails, editPanel } from "./panel-editor";

interface PanelView {
  panel: Panel;
  root: HTMLElement;
  body: HTMLElement;
  meta: HTMLElement;
  controller: AbortController | null;
  dispose: Dispose | null;
  queryId: string | null;
}

let sequence = 0;

export function renderDashboard(page: HTMLElement, id: string, params: URLSearchParams): () => void {
  let disposed = false;
  let refreshTimer = 0;
  const views: PanelView[] = [];
  page.classList.add("page-dashboard");
  replace(page, h("div", { class: "loading-page" }, h("div", { class: "spinner" }), "Loading dashboard…"));

  const cleanup = () => {
    disposed = true;
    window.clearInterval(refreshTimer);
    for (const view of views) stopPanel(view);
  };

  api
    .dashboard(id)
    .then((dashboard) => {
      if (!disposed) show(dashboard);
    })
    .catch((error: unknown) => {
      if (disposed) return;
      replace(
        page,
        h(
          "div",
          { class: "empty-state" },
          icon("warning", "empty-icon"),
          h("h2", null, error instanceof ApiError && error.status === 404 ? "Dashboard not found" : "The dashboard could not be loaded"),
          h("p", { class: "muted" }, error instanceof Error ? error.message : String(error)),
          h("a", { class: "btn btn-secondary", href: href(["dashboards"]) }, "All dashboards"),
        ),
      );
    });

  function stopPanel(view: PanelView): void {
    view.controller?.abort();
    if (view.queryId) void api.cancel(view.queryId);
    view.controller = null;
    view.queryId = null;
    view.dispose?.();
    view.dispose = null;
  }

  function show(dashboard: Dashboard): void {
    const fallback: TimeRangeSpec = dashboard.time_range ?? { relative: "-7d" };
    let range = rangeFromParams(params, fallback);
    let tz = params.get("tz") ?? browserTimeZone();
    let refresh = params.get("refresh") ?? "off";
    const values = new Map<string, string>();
    for (const variable of dashboard.variables) {
      values.set(variable.name, params.get(`v.${variable.name}`) ?? variable.default ?? "*");
    }
    let editing = params.get("edit") === "1";
    let resolved = resolveRange(range);

    const syncUrl = () => {
      const next = new URLSearchParams();
      rangeToParams(range, next);
      if (tz !== browserTimeZone()) next.set("tz", tz);
      if (refresh !== "off") next.set("refresh", refresh);
      for (const variable of dashboard.variables) {
        const value = values.get(variable.name) ?? "*";
        if (value !== (variable.default ?? "*")) next.set(`v.${variable.name}`, value);
      }
      if (editing) next.set("edit", "1");
      replaceParams(["dashboards", dashboard.id], next);
    };

    // Header -------------------------------------------------------------------------------
    const subtitle = h("div", { class: "page-subtitle" });
    if (dashboard.app) subtitle.appendChild(h("span", { class: "badge badge-app" }, `App ${dashboard.app.version}`));
    else subtitle.appendChild(h("span", { class: "badge" }, "Custom dashboard"));
    if (dashboard.source_category) subtitle.appendChild(h("span", { class: "muted mono" }, dashboard.source_category));
    const rangeLabel = h("span", { class: "muted range-label", "data-testid": "range-label" });
    subtitle.appendChild(rangeLabel);

    const editToggle = button(editing ? "Done" : "Edit", () => setEditing(!editing), { icon: "edit", testid: "edit-toggle" });
    const detailsButton = button(
      "Title and description",
      async () => {
        const saved = await editDetails(dashboard);
        if (!saved) return;
        dashboard = saved;
        titleHeading.textContent = saved.title;
        descriptionLine.textContent = saved.description ?? "";
        descriptionLine.hidden = !saved.description;
        toast("Dashboard saved", "success");
      },
      { kind: "ghost", testid: "edit-details" },
    );
    detailsButton.classList.add("edit-only");
    const titleHeading = h("h1", { class: "page-title", "data-testid": "dashboard-title" }, dashboard.title);
    const descriptionLine = h("p", { class: "page-description", hidden: !dashboard.description }, dashboard.description ?? "");
    const actions = h(
      "div",
      { class: "page-actions" },
      button("", () => runAll(), { icon: "refresh", title: "Run every panel again", testid: "refresh", kind: "ghost" }),
      detailsButton,
      editToggle,
      button(
        "Duplicate",
        async () => {
          try {
            const copy = await api.duplicateDashboard(dashboard.id);
            toast(`Created “${copy.title}”`, "success");
            navigate(["dashboards", copy.id]);
          } catch (error) {
            toast(error instanceof Error ? error.message : String(error), "error");
          }
        },
        { icon: "copy", testid: "duplicate" },
      ),
      dashboard.app === null
        ? button(
            "Delete",
            async () => {
              if (!(await confirmAction("Delete dashboard", `Delete “${dashboard.title}”? This cannot be undone.`, "Delete"))) return;
              try {
                await api.deleteDashboard(dashboard.id);
                toast(`Deleted “${dashboard.title}”`, "success");
                navigate(["dashboards"]);
              } catch (error) {
                toast(error instanceof Error ? error.message : String(error), "error");
              }
            },
            { icon: "trash", kind: "danger", testid: "delete-dashboard" },
          )
        : null,
    );
    const header = h(
      "header",
      { class: "page-header" },
      h(
        "div",
        { class: "page-heading" },
        h("nav", { class: "breadcrumb" }, h("a", { href: href(["dashboards"]) }, "Dashboards"), h("span", null, "/")),
        titleHeading,
        descriptionLine,
        subtitle,
      ),
      actions,
    );

    // Filters --------------------------------------------------------------------------------
    const filterBar = h("div", { class: "filter-bar", "data-testid": "filters" });
    const loadedValues = new Set<string>();
    const datalists = new Map<string, HTMLDataListElement>();
    const loadValues = async (name: string) => {
      const list = datalists.get(name);
      if (!list || loadedValues.has(name)) return;
      loadedValues.add(name);
      try {
        const answer = await api.variableValues(dashboard.id, name, resolved.from, resolved.to);
        clear(list);
        list.appendChild(h("option", { value: "*" }, "All"));
        for (const item of answer.values) list.appendChild(h("option", { value: item.value }, `${formatNumber(item.count)} messages`));
      } catch {
        loadedValues.delete(name);
      }
    };
    for (const variable of dashboard.variables) {
      const listId = `values-${dashboard.id}-${variable.name}-${++sequence}`;
      const list = h("datalist", { id: listId }, h("option", { value: "*" }, "All"));
      datalists.set(variable.name, list);
      const input = h("input", {
        class: "input input-filter",
        list: listId,
        value: values.get(variable.name) ?? "*",
        "data-variable": variable.name,
        "aria-label": variable.label ?? variable.name,
        autocomplete: "off",
        spellcheck: "false",
      });
      input.placeholder = "* (all)";
      // The browser filters a datalist by the input's text: an empty input lists every value.
      input.addEventListener("focus", () => {
        void loadValues(variable.name);
        if (input.value === "*") input.value = "";
        else input.select();
      });
      input.addEventListener("blur", () => {
        if (input.value.trim() === "") input.value = values.get(variable.name) ?? "*";
      });
      const commit = () => {
        const value = input.value.trim() === "" ? "*" : input.value.trim();
        input.value = value;
        if (values.get(variable.name) === value) return;
        values.set(variable.name, value);
        input.classList.toggle("is-set", value !== "*");
        syncUrl();
        runAll();
      };
      input.classList.toggle("is-set", input.value !== "*");
      input.addEventListener("change", commit);
      // Picking a suggestion applies it at once.
      input.addEventListener("input", (event) => {
        if ((event as InputEvent).inputType === "insertReplacementText" || (event as InputEvent).inputType === undefined) commit();
      });
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") commit();
      });
      filterBar.appendChild(
        h("label", { class: "field field-filter" }, h("span", { class: "field-label" }, variable.label ?? variable.name), input, list),
      );
    }
    for (const variable of dashboard.variables) void loadValues(variable.name);

    const picker = rangePicker(range, () => tz, (next) => {
      range = next;
      loadedValues.clear();
      syncUrl();
      runAll();
    });
    const tzSelect = timeZoneSelect(tz, (next) => {
      tz = next;
      syncUrl();
      runAll();
    });
    const refreshControl = refreshSelect(refresh, (next) => {
      refresh = next;
      syncUrl();
      scheduleRefresh();
    });
    const toolbar = h(
      "div",
      { class: "toolbar" },
      filterBar,
      h("div", { class: "toolbar-time" }, picker.element, tzSelect, refreshControl),
    );

    // Panels -----------------------------------------------------------------------------------
    const grid = h("div", { class: "panel-grid", "data-testid": "panel-grid" });
    for (const panel of [...dashboard.panels].sort((a, b) => a.layout.y - b.layout.y || a.layout.x - b.layout.x)) {
      views.push(panelView(panel));
    }
    for (const view of views) grid.appendChild(view.root);
    if (dashboard.panels.length === 0) {
      grid.appendChild(h("div", { class: "empty-state grid-empty" }, h("h2", null, "No panels"), h("p", { class: "muted" }, "This dashboard has no panels yet.")));
    }

    replace(page, header, toolbar, grid);
    page.dataset.dashboard = dashboard.id;

    function panelView(panel: Panel): PanelView {
      const titleLink = h(
        "a",
        { class: "panel-title", href: "#", title: "Open this query in Search", "data-testid": "panel-title" },
        h("span", { title: panel.title }, panel.title),
        icon("external", "icon icon-small"),
      );
      titleLink.addEventListener("click", (event) => {
        event.preventDefault();
        const next = new URLSearchParams();
        next.set("q", panel.query);
        rangeToParams(range, next);
        if (tz !== browserTimeZone()) next.set("tz", tz);
        for (const [name, value] of values) next.set(`v.${name}`, value);
        navigate(["search"], next);
      });
      const meta = h("span", { class: "panel-meta" });
      const editButton = button("", () => void startEdit(panel), { icon: "edit", kind: "ghost", title: "Edit panel", testid: "edit-panel" });
      editButton.classList.add("panel-edit");
      const body = h("div", { class: "panel-viz" });
      const root = h(
        "section",
        { class: `panel panel-${panel.visualization.type}`, "data-panel-id": panel.id, "data-testid": "panel", "data-state": "idle" },
        h(
          "header",
          { class: "panel-header" },
          titleLink,
          panel.description ? h("span", { class: "panel-info", title: panel.description, "aria-label": panel.description }, "i") : null,
          meta,
          editButton,
        ),
        h("div", { class: "panel-body" }, body),
      );
      const { x, y, w, h: height } = panel.layout;
      root.style.setProperty("--x", String(x + 1));
      root.style.setProperty("--y", String(y + 1));
      root.style.setProperty("--w", String(Math.max(1, Math.min(12, w))));
      root.style.setProperty("--h", String(Math.max(1, height)));
      // On a six-column (narrow) grid, quarter-width panels go two abreast, others full width.
      root.style.setProperty("--w6", String(w <= 3 ? 3 : 6));
      return { panel, root, body, meta, controller: null, dispose: null, queryId: null };
    }

    function setEditing(next: boolean): void {
      editing = next;
      page.classList.toggle("is-editing", editing);
      const label = editToggle.querySelector("span");
      if (label) label.textContent = editing ? "Done" : "Edit";
      syncUrl();
    }
    page.classList.toggle("is-editing", editing);

    async function startEdit(panel: Panel): Promise<void> {
      const saved = await editPanel(dashboard, panel);
      if (!saved) return;
      dashboard = saved;
      toast("Dashboard saved", "success");
      const updated = saved.panels.find((p) => p.id === panel.id);
      const view = views.find((v) => v.panel.id === panel.id);
      if (updated && view) {
        const fresh = panelView(updated);
        stopPanel(view);
        view.root.replaceWith(fresh.root);
        Object.assign(view, fresh);
        void runPanel(view, resolved);
      }
    }

    async function runPanel(view: PanelView, window: { from: string; to: string }): Promise<void> {
      stopPanel(view);
      const controller = new AbortController();
      view.controller = controller;
      const queryId = `panel-${view.panel.id}-${++sequence}`;
      view.queryId = queryId;
      view.root.dataset.state = "loading";
      view.root.classList.add("is-loading");
      if (!view.body.firstChild) view.body.appendChild(h("div", { class: "skeleton" }));
      const started = performance.now();
      const variables = Object.fromEntries(values);
      const request = { from: window.from, to: window.to, tz, variables, limit: 1000 };
      const sparklineQuery = typeof view.panel.visualization.options?.sparkline_query === "string" ? (view.panel.visualization.options.sparkline_query as string) : null;
      try {
        const [result, sparkline] = await Promise.all([
          api.query({ ...request, query: view.panel.query, id: queryId }, controller.signal),
          sparklineQuery
            ? api.query({ ...request, query: sparklineQuery }, controller.signal).catch(() => null)
            : Promise.resolve<QueryResult | null>(null),
        ]);
        if (controller.signal.aborted || disposed) return;
        view.queryId = null;
        view.dispose?.();
        view.root.classList.remove("is-loading");
        const type = view.panel.visualization.type;
        if (isEmptyResult(result) && type !== "single_value") {
          view.body.dataset.rows = "0";
          view.body.dataset.kind = type;
          delete view.body.dataset.series;
          replace(
            view.body,
            h(
              "div",
              { class: "panel-empty" },
              h("div", null, h("p", null, "No data in this time range"), result.warnings.map((w) => h("p", { class: "panel-warning" }, w))),
            ),
          );
          view.dispose = null;
        } else {
          view.dispose = renderVisualization(view.body, type, result, {
            tz,
            options: view.panel.visualization.options ?? {},
            sparkline,
          });
        }
        view.meta.textContent = result.cached ? "cached" : `${formatNumber(result.elapsed_ms ?? Math.round(performance.now() - started))} ms`;
        view.meta.title = result.warnings.length > 0 ? result.warnings.join("\n") : "";
        view.root.dataset.state = "ok";
        view.root.classList.toggle("has-warnings", result.warnings.length > 0);
      } catch (error) {
        if (controller.signal.aborted || disposed) return;
        view.queryId = null;
        view.dispose?.();
        view.dispose = null;
        view.root.classList.remove("is-loading");
        view.root.dataset.state = "error";
        const message = error instanceof Error ? error.message : String(error);
        replace(
          view.body,
          h(
            "div",
            { class: "panel-error", role: "alert", "data-testid": "panel-error" },
            icon("warning"),
            h("div", null, h("strong", null, "This panel failed"), h("p", null, message)),
          ),
        );
        view.meta.textContent = "";
      }
    }

    function runAll(): void {
      resolved = resolveRange(range);
      page.dataset.from = resolved.from;
      page.dataset.to = resolved.to;
      page.dataset.tz = tz;
      page.dataset.generation = String(Number(page.dataset.generation ?? "0") + 1);
      rangeLabel.textContent = `${describeRange(range, tz)} · as of ${new Date().toLocaleTimeString([], { timeZone: tz, hour: "2-digit", minute: "2-digit" })}`;
      for (const view of views) void runPanel(view, resolved);
    }

    function scheduleRefresh(): void {
      window.clearInterval(refreshTimer);
      const choice = REFRESH_CHOICES.find((c) => c.value === refresh);
      if (choice && choice.ms > 0) refreshTimer = window.setInterval(() => runAll(), choice.ms);
    }

    syncUrl();
    runAll();
    scheduleRefresh();
  }

  return cleanup;
}
