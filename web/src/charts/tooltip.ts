// Tooltips built as DOM nodes with textContent: ECharts shows returned elements as they are,
// so no data string is ever parsed as HTML.

import { h } from "../dom";

export interface TooltipLine {
  color?: string;
  label: string;
  value: string;
}

export function tooltipBox(title: string, lines: TooltipLine[]): HTMLElement {
  return h(
    "div",
    { class: "chart-tooltip" },
    title ? h("div", { class: "chart-tooltip-title" }, title) : null,
    lines.map((line) => {
      const swatch = h("span", { class: "chart-tooltip-swatch" });
      if (line.color) swatch.style.backgroundColor = line.color;
      return h(
        "div",
        { class: "chart-tooltip-line" },
        line.color ? swatch : null,
        h("span", { class: "chart-tooltip-label" }, line.label),
        h("span", { class: "chart-tooltip-value" }, line.value),
      );
    }),
  );
}

export const TOOLTIP_BASE = {
  backgroundColor: "#ffffff",
  borderColor: "#dee2e6",
  borderWidth: 1,
  padding: [8, 10],
  textStyle: { color: "#212529", fontSize: 12 },
  extraCssText: "box-shadow: 0 4px 14px rgba(33,37,41,.12); border-radius: 6px;",
  confine: true,
};
