// Editing one panel of a dashboard: title, query and visualization type; saved with PUT.

import { ApiError, api, type Dashboard, type Panel } from "../api";
import { h, modal } from "../dom";
import { createEditor } from "../editor/editor";

export const VISUALIZATIONS: { value: string; label: string }[] = [
  { value: "single_value", label: "Single value" },
  { value: "column", label: "Columns" },
  { value: "stacked_column", label: "Stacked columns" },
  { value: "line", label: "Line" },
  { value: "area", label: "Area" },
  { value: "bar", label: "Bar" },
  { value: "pie", label: "Pie" },
  { value: "table", label: "Table" },
  { value: "map", label: "World map" },
];

/** Shows the panel editor; resolves with the stored dashboard, or null when cancelled. */
export async function editPanel(dashboard: Dashboard, panel: Panel): Promise<Dashboard | null> {
  const titleInput = h("input", { class: "input", value: panel.title, name: "title", "data-testid": "panel-title-input", required: true });
  const typeSelect = h("select", { class: "select", name: "type", "data-testid": "panel-type-select" });
  for (const v of VISUALIZATIONS) typeSelect.appendChild(h("option", { value: v.value }, v.label));
  typeSelect.value = panel.visualization.type;
  const editorHost = h("div", { class: "code-editor code-editor-modal", "data-testid": "panel-query-editor" });
  const errorBox = h("div", { class: "form-error", role: "alert", hidden: true });
  const editor = createEditor(editorHost, { doc: panel.query, minimal: false });
  let saved: Dashboard | null = null;
  const result = await modal({
    title: "Edit panel",
    className: "modal-wide",
    body: [
      h("label", { class: "field field-block" }, h("span", { class: "field-label" }, "Title"), titleInput),
      h("label", { class: "field field-block" }, h("span", { class: "field-label" }, "Visualization"), typeSelect),
      h("div", { class: "field field-block" }, h("span", { class: "field-label" }, "Query"), editorHost),
      errorBox,
    ],
    actions: [
      { label: "Cancel", value: "cancel" },
      { label: "Save", value: "save", kind: "primary" },
    ],
    onSubmit: async () => {
      const title = titleInput.value.trim();
      if (title === "") {
        titleInput.reportValidity();
        return false;
      }
      const updated: Dashboard = {
        ...dashboard,
        panels: dashboard.panels.map((p) =>
          p.id === panel.id
            ? { ...p, title, query: editor.text(), visualization: { ...p.visualization, type: typeSelect.value } }
            : p,
        ),
      };
      try {
        saved = await api.saveDashboard(updated);
        return true;
      } catch (error) {
        errorBox.hidden = false;
        errorBox.textContent = error instanceof Error ? error.message : String(error);
        if (error instanceof ApiError && error.diagnostics.length > 0 && (error.panel === null || error.panel === panel.id)) {
          editor.showDiagnostics(error.diagnostics);
        }
        return false;
      }
    },
  });
  editor.destroy();
  return result === "save" ? saved : null;
}

/** Editing a dashboard's title and description; resolves with the stored dashboard. */
export async function editDetails(dashboard: Dashboard): Promise<Dashboard | null> {
  const titleInput = h("input", { class: "input", value: dashboard.title, name: "title", "data-testid": "dashboard-title-input", required: true, maxlength: 200 });
  const description = h("textarea", { class: "input textarea", name: "description", rows: 4, maxlength: 4000 });
  description.value = dashboard.description ?? "";
  const errorBox = h("div", { class: "form-error", role: "alert", hidden: true });
  let saved: Dashboard | null = null;
  const result = await modal({
    title: "Dashboard details",
    body: [
      h("label", { class: "field field-block" }, h("span", { class: "field-label" }, "Title"), titleInput),
      h("label", { class: "field field-block" }, h("span", { class: "field-label" }, "Description"), description),
      errorBox,
    ],
    actions: [
      { label: "Cancel", value: "cancel" },
      { label: "Save", value: "save", kind: "primary" },
    ],
    onSubmit: async () => {
      const title = titleInput.value.trim();
      if (title === "") {
        titleInput.reportValidity();
        return false;
      }
      try {
        saved = await api.saveDashboard({ ...dashboard, title, description: description.value.trim() });
        return true;
      } catch (error) {
        errorBox.hidden = false;
        errorBox.textContent = error instanceof Error ? error.message : String(error);
        return false;
      }
    },
  });
  return result === "save" ? saved : null;
}
