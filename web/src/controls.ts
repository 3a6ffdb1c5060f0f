// Controls shared by the dashboard and search pages: time range, time zone, auto-refresh.

import type { TimeRangeSpec } from "./api";
import { h, button } from "./dom";
import { PRESETS, fromLocalInput, resolveRange, timeZones, toLocalInput } from "./time";

export function rangeFromParams(params: URLSearchParams, fallback: TimeRangeSpec): TimeRangeSpec {
  const from = params.get("from");
  const to = params.get("to");
  if (from && to && !Number.isNaN(Date.parse(from)) && !Number.isNaN(Date.parse(to))) return { from, to };
  const relative = params.get("range");
  if (relative) return { relative };
  return fallback;
}

export function rangeToParams(range: TimeRangeSpec, params: URLSearchParams): void {
  params.delete("range");
  params.delete("from");
  params.delete("to");
  if ("relative" in range) params.set("range", range.relative);
  else {
    params.set("from", range.from);
    params.set("to", range.to);
  }
}

export interface RangePicker {
  element: HTMLElement;
  value(): TimeRangeSpec;
  set(range: TimeRangeSpec): void;
}

export function rangePicker(initial: TimeRangeSpec, tz: () => string, onChange: (range: TimeRangeSpec) => void): RangePicker {
  let current = initial;
  const select = h("select", { class: "select", "data-testid": "time-range", "aria-label": "Time range" });
  for (const preset of PRESETS) select.appendChild(h("option", { value: preset.value }, preset.label));
  const customOption = h("option", { value: "custom" }, "Custom range…");
  select.appendChild(customOption);
  const fromInput = h("input", { type: "datetime-local", class: "input input-time", "aria-label": "From", "data-testid": "time-from" });
  const toInput = h("input", { type: "datetime-local", class: "input input-time", "aria-label": "To", "data-testid": "time-to" });
  const apply = button(
    "Apply",
    () => {
      const from = fromLocalInput(fromInput.value, tz());
      const to = fromLocalInput(toInput.value, tz());
      if (from === null || to === null || from >= to) {
        fromInput.setCustomValidity("The start must be before the end");
        fromInput.reportValidity();
        return;
      }
      fromInput.setCustomValidity("");
      current = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
      onChange(current);
    },
    { kind: "primary", testid: "time-apply" },
  );
  const custom = h("div", { class: "custom-range" }, fromInput, h("span", { class: "muted" }, "to"), toInput, apply);

  const show = () => {
    if ("relative" in current && PRESETS.some((p) => p.value === (current as { relative: string }).relative)) {
      select.value = current.relative;
      custom.hidden = true;
    } else {
      select.value = "custom";
      custom.hidden = false;
      const resolved = resolveRange(current);
      fromInput.value = toLocalInput(Date.parse(resolved.from), tz());
      toInput.value = toLocalInput(Date.parse(resolved.to), tz());
    }
  };
  select.addEventListener("change", () => {
    if (select.value === "custom") {
      const resolved = resolveRange(current);
      fromInput.value = toLocalInput(Date.parse(resolved.from), tz());
      toInput.value = toLocalInput(Date.parse(resolved.to), tz());
      custom.hidden = false;
      return;
    }
    custom.hidden = true;
    current = { relative: select.value };
    onChange(current);
  });
  show();
  return {
    element: h("div", { class: "range-picker" }, h("label", { class: "field" }, h("span", { class: "field-label" }, "Time range"), select), custom),
    value: () => current,
    set: (range) => {
      current = range;
      show();
    },
  };
}

export function timeZoneSelect(initial: string, onChange: (tz: string) => void): HTMLElement {
  const select = h("select", { class: "select select-tz", "data-testid": "time-zone", "aria-label": "Time zone" });
  for (const zone of timeZones()) select.appendChild(h("option", { value: zone }, zone.replace(/_/g, " ")));
  select.value = initial;
  select.addEventListener("change", () => onChange(select.value));
  return h("label", { class: "field" }, h("span", { class: "field-label" }, "Time zone"), select);
}

export const REFRESH_CHOICES = [
  { value: "off", label: "Off", ms: 0 },
  { value: "1m", label: "Every minute", ms: 60_000 },
  { value: "5m", label: "Every 5 minutes", ms: 300_000 },
  { value: "15m", label: "Every 15 minutes", ms: 900_000 },
];

export function refreshSelect(initial: string, onChange: (value: string) => void): HTMLElement {
  const select = h("select", { class: "select", "data-testid": "auto-refresh", "aria-label": "Auto-refresh" });
  for (const choice of REFRESH_CHOICES) select.appendChild(h("option", { value: choice.value }, choice.label));
  select.value = REFRESH_CHOICES.some((c) => c.value === initial) ? initial : "off";
  select.addEventListener("change", () => onChange(select.value));
  return h("label", { class: "field" }, h("span", { class: "field-label" }, "Auto-refresh"), select);
}
