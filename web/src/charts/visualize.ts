// Draws a query result as one of the dashboard visualizations (API.md, "Dashboards").
// Every renderer writes what it drew into data attributes of its element (values, series,
// point counts) so that what the page shows can be checked against the query API.

import type { QueryResult, Cell, ColumnType } from "../api";
import { h, replace } from "../dom";
import {
  STATUS_COLORS,
  colorFor,
  formatBytes,
  formatCell,
  formatCompact,
  formatNumber,
  formatTimeSmart,
  hashColor,
  isNumericType,
} from "../format";
import { AXIS_COLOR, FONT, GRID_COLOR, TEXT_COLOR, ensureWorldMap, mountChart, type Option } from "./echarts";
import { TOOLTIP_BASE, tooltipBox, type TooltipLine } from "./tooltip";
import { renderTable } from "./table";

export interface RenderOptions {
  tz: string;
  options: Record<string, unknown>;
  /** The sparkline's own result, for single values. */
  sparkline?: QueryResult | null;
}

export type Dispose = () => void;
const NOTHING: Dispose = () => undefined;

function str(options: Record<string, unknown>, key: string): string | undefined {
  const value = options[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function num(cell: Cell): number | null {
  if (typeof cell === "number") return cell;
  if (typeof cell === "string" && cell.trim() !== "" && !Number.isNaN(Number(cell))) return Number(cell);
  return null;
}

function columnIndex(result: QueryResult, name: string | undefined): number {
  if (!name) return -1;
  const exact = result.columns.indexOf(name);
  if (exact >= 0) return exact;
  const lower = name.toLowerCase();
  return result.columns.findIndex((c) => c.toLowerCase() === lower);
}

function numericColumns(result: QueryResult, exclude: Set<number>): number[] {
  const out: number[] = [];
  result.types.forEach((type, i) => {
    if (!exclude.has(i) && isNumericType(type)) out.push(i);
  });
  return out;
}

function textColumn(result: QueryResult, exclude: Set<number>): number {
  return result.types.findIndex((type, i) => !exclude.has(i) && type === "text");
}

export function isEmptyResult(result: QueryResult): boolean {
  return result.rows.length === 0;
}

export function renderVisualization(element: HTMLElement, type: string, result: QueryResult, options: RenderOptions): Dispose {
  element.dataset.kind = type;
  element.dataset.rows = String(result.rows.length);
  switch (type) {
    case "single_value":
      return renderSingleValue(element, result, options);
    case "column":
    case "stacked_column":
    case "line":
    case "area":
      return renderSeriesChart(element, type, result, options);
    case "bar":
    case "pie":
      return renderCategoryChart(element, type, result, options);
    case "map":
      return renderMap(element, result, options);
    case "table":
    default:
      return renderTable(element, result, {
        tz: options.tz,
        columns: Array.isArray(options.options.columns) ? (options.options.columns as string[]) : undefined,
      });
  }
}

// ---------------------------------------------------------------------------------------------
// Single value

function renderSingleValue(element: HTMLElement, result: QueryResult, options: RenderOptions): Dispose {
  const time = new Set([columnIndex(result, "_timeslice")]);
  const preferred = columnIndex(result, str(options.options, "value"));
  const column = preferred >= 0 ? preferred : (numericColumns(result, time)[0] ?? result.columns.length - 1);
  const cell = result.rows[0]?.[column] ?? null;
  const value = num(cell);
  const unit = str(options.options, "unit");
  const decimals = typeof options.options.decimals === "number" ? options.options.decimals : unit === "GB" ? 2 : undefined;
  const text = value === null ? (cell === null ? "0" : String(cell)) : formatNumber(value, decimals);
  element.dataset.value = value === null ? String(cell ?? 0) : String(value);
  const valueEl = h(
    "div",
    { class: "single-value", "data-testid": "single-value" },
    h("span", { class: "single-value-number" }, text),
    unit ? h("span", { class: "single-value-unit" }, unit) : null,
  );
  const thresholds = Array.isArray(options.options.thresholds) ? (options.options.thresholds as { value: number; color: string }[]) : [];
  if (value !== null) {
    let color: string | null = null;
    for (const threshold of thresholds) if (typeof threshold.value === "number" && value >= threshold.value) color = threshold.color;
    if (color && /^#[0-9a-fA-F]{3,8}$/.test(color)) valueEl.style.color = color;
  }
  const spark = h("div", { class: "sparkline" });
  replace(element, h("div", { class: "single-value-wrap" }, valueEl, options.sparkline ? spark : null));
  if (!options.sparkline || options.sparkline.rows.length === 0) return NOTHING;
  const sparkResult = options.sparkline;
  const x = Math.max(0, columnIndex(sparkResult, "_timeslice"));
  const y = numericColumns(sparkResult, new Set([x]))[0];
  if (y === undefined) return NOTHING;
  const data = sparkResult.rows.map((row) => [row[x], num(row[y]!)]);
  spark.dataset.points = String(data.length);
  const { dispose } = mountChart(spark, {
    animation: false,
    grid: { left: 2, right: 2, top: 4, bottom: 2 },
    xAxis: { type: sparkResult.types[x] === "time" ? "time" : "category", show: false },
    yAxis: { type: "value", show: false, scale: true },
    tooltip: { show: false },
    series: [
      {
        type: "line",
        data,
        showSymbol: false,
        smooth: true,
        lineStyle: { width: 1.5, color: "#3b5bdb" },
        areaStyle: { color: "rgba(59,91,219,0.12)" },
      },
    ],
  });
  return dispose;
}

// ---------------------------------------------------------------------------------------------
// Time series and columns

function axisLabel(type: ColumnType | undefined, tz: string) {
  return {
    color: TEXT_COLOR,
    fontFamily: FONT,
    formatter: (value: number | string) =>
      type === "time" && typeof value === "number" ? formatTimeSmart(value, tz).slice(5, 16) : String(value),
  };
}

function seriesChartOption(
  type: string,
  result: QueryResult,
  options: RenderOptions,
): { option: Option; summary: { name: string; values: (number | null)[] }[] } | null {
  const x = Math.max(0, columnIndex(result, str(options.options, "x") ?? "_timeslice"));
  const xType = result.types[x];
  const isTime = xType === "time";
  const outlier = (options.options.outlier ?? null) as Record<string, string> | null;
  const exclude = new Set([x]);
  // The band is lower..upper when the result has them (the outlier operator's
  // `_lower`/`_upper`), otherwise predicted ± error.
  let outlierCols: { value: number; predicted: number; error: number; lower: number; upper: number; violation: number } | null = null;
  if (outlier && typeof outlier === "object" && typeof outlier.value === "string") {
    const base = outlier.value;
    const cols = {
      value: columnIndex(result, base),
      predicted: columnIndex(result, outlier.predicted ?? `${base}_predicted`),
      error: columnIndex(result, outlier.error ?? `${base}_error`),
      lower: columnIndex(result, outlier.lower ?? `${base}_lower`),
      upper: columnIndex(result, outlier.upper ?? `${base}_upper`),
      violation: columnIndex(result, outlier.violation ?? `${base}_violation`),
    };
    if (cols.value >= 0 && ((cols.lower >= 0 && cols.upper >= 0) || (cols.predicted >= 0 && cols.error >= 0))) {
      outlierCols = cols;
      for (const i of Object.values(cols)) if (i >= 0) exclude.add(i);
      const indicator = columnIndex(result, `${base}_indicator`);
      if (indicator >= 0) exclude.add(indicator);
    }
  }
  let seriesCols: number[];
  const wanted = Array.isArray(options.options.series) ? (options.options.series as string[]) : null;
  if (wanted) seriesCols = wanted.map((name) => columnIndex(result, name)).filter((i) => i >= 0);
  else seriesCols = numericColumns(result, exclude);
  if (outlierCols) seriesCols = seriesCols.filter((i) => !exclude.has(i));
  if (seriesCols.length === 0 && !outlierCols) return null;

  const tz = options.tz;
  const rows = result.rows;
  const valueColumns = outlierCols ? [...seriesCols, outlierCols.value] : seriesCols;
  const bytes = valueColumns.length > 0 && valueColumns.every((i) => /bytes|size/i.test(result.columns[i]!));
  const formatValue = (v: number) => (bytes ? formatBytes(v) : formatNumber(v));
  const xValues = rows.map((row) => row[x] ?? null);
  const point = (i: number, value: number | null) => (isTime ? [xValues[i], value] : value);
  const stacked = type === "stacked_column";
  const chartType = type === "column" || type === "stacked_column" ? "bar" : "line";
  const summary: { name: string; values: (number | null)[] }[] = [];
  let bandLower: (number | null)[] = [];
  let bandWidth: (number | null)[] = [];
  const series: Record<string, unknown>[] = seriesCols.map((col, index) => {
    const name = result.columns[col]!;
    const values = rows.map((row) => num(row[col] ?? null));
    summary.push({ name, values });
    const color = colorFor(name, index);
    return {
      name,
      type: chartType,
      stack: stacked ? "total" : undefined,
      data: values.map((v, i) => point(i, v)),
      itemStyle: { color, borderRadius: chartType === "bar" && !stacked ? [3, 3, 0, 0] : 0 },
      lineStyle: { width: 2, color },
      showSymbol: rows.length <= 40,
      symbolSize: 5,
      areaStyle: type === "area" ? { opacity: 0.18 } : undefined,
      barMaxWidth: 42,
      emphasis: { focus: "series" },
    };
  });
  if (outlierCols) {
    const cols = outlierCols;
    const values = rows.map((row) => num(row[cols.value] ?? null));
    const bounds = rows.map((row) => {
      if (cols.lower >= 0 && cols.upper >= 0) return [num(row[cols.lower] ?? null), num(row[cols.upper] ?? null)] as const;
      const p = num(row[cols.predicted] ?? null);
      const e = num(row[cols.error] ?? null);
      return p === null || e === null ? ([null, null] as const) : ([p - e, p + e] as const);
    });
    const nonNegative = values.every((v) => v === null || v >= 0);
    const lower = bounds.map(([lo]) => (lo === null ? null : nonNegative ? Math.max(0, lo) : lo));
    const band = bounds.map(([, hi], i) => (hi === null || lower[i] === null ? null : Math.max(0, hi - lower[i]!)));
    const violations = rows
      .map((row, i) => ({ i, flag: row[cols.violation] ?? null }))
      .filter(({ flag }) => flag === 1 || flag === true || flag === "1" || flag === "true");
    bandLower = lower;
    bandWidth = band;
    const name = result.columns[cols.value]!;
    summary.push({ name, values });
    summary.push({ name: "violations", values: violations.map(({ i }) => values[i] ?? null) });
    series.push(
      { name: "expected range", type: "line", stack: "outlier-band", data: lower.map((v, i) => point(i, v)), lineStyle: { opacity: 0 }, showSymbol: false, silent: true, tooltip: { show: false } },
      { name: "expected range", type: "line", stack: "outlier-band", data: band.map((v, i) => point(i, v)), lineStyle: { opacity: 0 }, showSymbol: false, areaStyle: { color: "rgba(59,91,219,0.14)" }, silent: true },
      { name, type: "line", data: values.map((v, i) => point(i, v)), lineStyle: { width: 2, color: "#3b5bdb" }, itemStyle: { color: "#3b5bdb" }, showSymbol: rows.length <= 40, symbolSize: 5 },
      {
        name: "outlier",
        type: "scatter",
        data: violations.map(({ i }) => point(i, values[i] ?? null)),
        symbolSize: 11,
        itemStyle: { color: "#e03131", borderColor: "#fff", borderWidth: 2 },
        z: 5,
      },
    );
  }
  const legendNames = [...new Set(series.map((s) => s.name as string))].filter((n) => n !== "expected range" || outlierCols);
  const option: Option = {
    animationDuration: 300,
    textStyle: { fontFamily: FONT },
    grid: { left: 8, right: 16, top: legendNames.length > 1 ? 34 : 14, bottom: 8, containLabel: true },
    legend: legendNames.length > 1 ? { type: "scroll", top: 0, left: 0, icon: "roundRect", itemWidth: 10, itemHeight: 10, textStyle: { color: TEXT_COLOR }, data: legendNames } : undefined,
    xAxis: {
      type: isTime ? "time" : "category",
      data: isTime ? undefined : xValues.map((v) => (v === null ? "" : String(v))),
      axisLine: { lineStyle: { color: AXIS_COLOR } },
      axisTick: { show: false },
      axisLabel: axisLabel(xType, tz),
      splitLine: { show: false },
    },
    yAxis: {
      type: "value",
      axisLabel: { color: TEXT_COLOR, formatter: (v: number) => (bytes ? formatBytes(v).replace(".00 ", " ") : formatCompact(v)) },
      splitLine: { lineStyle: { color: GRID_COLOR } },
    },
    tooltip: {
      ...TOOLTIP_BASE,
      trigger: "axis",
      axisPointer: { type: chartType === "bar" ? "shadow" : "line" },
      formatter: (params: unknown) => {
        const list = (Array.isArray(params) ? params : [params]) as { seriesName: string; color: string; value: unknown; dataIndex: number }[];
        const first = list[0];
        if (!first) return "";
        const xv = xValues[first.dataIndex];
        const title = isTime && typeof xv === "number" ? formatTimeSmart(xv, tz) : String(xv ?? "");
        const lines: TooltipLine[] = [];
        for (const p of list) {
          if (p.seriesName === "expected range") continue;
          const raw = Array.isArray(p.value) ? p.value[1] : p.value;
          if (raw === null || raw === undefined) continue;
          lines.push({ color: typeof p.color === "string" ? p.color : undefined, label: p.seriesName, value: formatValue(Number(raw)) });
        }
        if (outlierCols) {
          const lo = bandLower[first.dataIndex];
          const width = bandWidth[first.dataIndex];
          if (lo !== null && lo !== undefined && width !== null && width !== undefined) {
            lines.push({ label: "expected", value: `${formatValue(lo)} – ${formatValue(lo + width)}` });
          }
        }
        return tooltipBox(title, lines);
      },
    },
    series,
  };
  return { option, summary };
}

function renderSeriesChart(element: HTMLElement, type: string, result: QueryResult, options: RenderOptions): Dispose {
  const built = seriesChartOption(type, result, options);
  if (!built) return renderTable(element, result, { tz: options.tz });
  element.dataset.series = JSON.stringify(built.summary);
  const holder = h("div", { class: "chart" });
  replace(element, holder);
  return mountChart(holder, built.option).dispose;
}

// ---------------------------------------------------------------------------------------------
// Bar and pie

function renderCategoryChart(element: HTMLElement, type: string, result: QueryResult, options: RenderOptions): Dispose {
  let label = columnIndex(result, str(options.options, "label"));
  let value = columnIndex(result, str(options.options, "value"));
  if (label < 0) label = textColumn(result, new Set());
  if (value < 0) value = numericColumns(result, new Set([label]))[0] ?? -1;
  if (label < 0 || value < 0) return renderTable(element, result, { tz: options.tz });
  const labelName = result.columns[label]!;
  const isStatus = labelName.toLowerCase() === "status";
  const items = result.rows.map((row) => ({ name: row[label] === null ? "(none)" : String(row[label]), value: num(row[value] ?? null) ?? 0 }));
  element.dataset.series = JSON.stringify([{ name: result.columns[value], labels: items.map((i) => i.name), values: items.map((i) => i.value) }]);
  const holder = h("div", { class: "chart" });
  replace(element, holder);
  const colorOf = (name: string, i: number) => (isStatus || type === "pie" ? colorFor(name, i) : "#3b5bdb");
  const tooltip = {
    ...TOOLTIP_BASE,
    trigger: "item",
    formatter: (p: { name: string; value: number; color: string; percent?: number }) =>
      tooltipBox(p.name, [
        { color: p.color, label: result.columns[value]!, value: formatNumber(Number(p.value)) },
        ...(p.percent !== undefined ? [{ label: "share", value: `${p.percent.toFixed(1)} %` }] : []),
      ]),
  };
  if (type === "pie") {
    return mountChart(holder, {
      textStyle: { fontFamily: FONT },
      tooltip,
      legend: { type: "scroll", bottom: 0, left: "center", icon: "circle", itemWidth: 10, itemHeight: 10, textStyle: { color: TEXT_COLOR, width: 160, overflow: "truncate" } },
      series: [
        {
          type: "pie",
          radius: ["42%", "70%"],
          center: ["50%", "45%"],
          avoidLabelOverlap: true,
          label: { show: false },
          itemStyle: { borderColor: "#fff", borderWidth: 2 },
          data: items.map((item, i) => ({ ...item, itemStyle: { color: colorOf(item.name, i) } })),
        },
      ],
    }).dispose;
  }
  return mountChart(holder, {
    textStyle: { fontFamily: FONT },
    tooltip: { ...tooltip, axisPointer: { type: "shadow" } },
    grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: "value", axisLabel: { color: TEXT_COLOR, formatter: (v: number) => formatCompact(v) }, splitLine: { lineStyle: { color: GRID_COLOR } } },
    yAxis: {
      type: "category",
      inverse: true,
      data: items.map((i) => i.name),
      axisTick: { show: false },
      axisLine: { lineStyle: { color: AXIS_COLOR } },
      axisLabel: { color: TEXT_COLOR, width: 180, overflow: "truncate" },
    },
    series: [
      {
        type: "bar",
        name: result.columns[value],
        data: items.map((item, i) => ({ value: item.value, itemStyle: { color: colorOf(item.name, i) } })),
        barMaxWidth: 22,
        itemStyle: { borderRadius: [0, 3, 3, 0] },
        label: { show: true, position: "right", color: TEXT_COLOR, formatter: (p: { value: number }) => formatCompact(Number(p.value)) },
      },
    ],
  }).dispose;
}

// ---------------------------------------------------------------------------------------------
// World map

function renderMap(element: HTMLElement, result: QueryResult, options: RenderOptions): Dispose {
  ensureWorldMap();
  const o = options.options;
  const lat = columnIndex(result, str(o, "latitude") ?? "latitude");
  const lon = columnIndex(result, str(o, "longitude") ?? "longitude");
  if (lat < 0 || lon < 0) return renderTable(element, result, { tz: options.tz });
  const used = new Set([lat, lon]);
  let value = columnIndex(result, str(o, "value"));
  if (value < 0) value = numericColumns(result, used)[0] ?? -1;
  let label = columnIndex(result, str(o, "label"));
  if (label < 0) label = textColumn(result, used);
  const colorBy = columnIndex(result, str(o, "color_by"));
  const city = columnIndex(result, "city");
  const region = columnIndex(result, "region");
  const country = columnIndex(result, "country_name");

  interface Point {
    name: string;
    value: [number, number, number];
    place: string;
    category: string;
  }
  const groups = new Map<string, Point[]>();
  let unlocated = 0;
  let total = 0;
  for (const row of result.rows) {
    const la = num(row[lat] ?? null);
    const lo = num(row[lon] ?? null);
    const count = value >= 0 ? (num(row[value] ?? null) ?? 0) : 1;
    if (la === null || lo === null) {
      unlocated += 1;
      continue;
    }
    const place = [city, region, country]
      .filter((i) => i >= 0 && row[i] !== null && row[i] !== "")
      .map((i) => String(row[i]))
      .filter((v, i, all) => all.indexOf(v) === i)
      .join(", ");
    const category = colorBy >= 0 ? String(row[colorBy] ?? "unknown") : "all";
    const point: Point = { name: label >= 0 ? String(row[label] ?? "") : "", value: [lo, la, count], place, category };
    total += count;
    const list = groups.get(category);
    if (list) list.push(point);
    else groups.set(category, [point]);
  }
  const points = [...groups.values()].reduce((n, list) => n + list.length, 0);
  element.dataset.points = String(points);
  element.dataset.total = String(total);
  element.dataset.unlocated = String(unlocated);
  const max = Math.max(1, ...[...groups.values()].flat().map((p) => p.value[2]));
  const ordered = [...groups.entries()].sort((a, b) => b[1].reduce((n, p) => n + p.value[2], 0) - a[1].reduce((n, p) => n + p.value[2], 0));
  const holder = h("div", { class: "chart chart-map" });
  const note = unlocated > 0 ? h("div", { class: "map-note" }, `${formatNumber(unlocated)} without a known location`) : null;
  replace(element, holder, note);
  const valueName = value >= 0 ? result.columns[value]! : "count";
  const labelName = label >= 0 ? result.columns[label]! : "";
  return mountChart(holder, {
    textStyle: { fontFamily: FONT },
    legend: ordered.length > 1 ? { type: "scroll", bottom: 0, left: 0, icon: "circle", textStyle: { color: TEXT_COLOR } } : undefined,
    tooltip: {
      ...TOOLTIP_BASE,
      trigger: "item",
      formatter: (p: { data?: Point; color?: string; componentType?: string; name?: string }) => {
        if (!p.data || p.componentType !== "series") return tooltipBox(p.name ?? "", []);
        const d = p.data;
        const lines: TooltipLine[] = [];
        if (d.place) lines.push({ label: "location", value: d.place });
        if (colorBy >= 0) lines.push({ color: p.color, label: result.columns[colorBy]!, value: d.category });
        lines.push({ label: valueName, value: formatNumber(d.value[2]) });
        return tooltipBox(labelName ? `${labelName} ${d.name}` : d.name, lines);
      },
    },
    geo: {
      map: "world",
      roam: true,
      zoom: 1.2,
      layoutCenter: ["50%", "52%"],
      layoutSize: "118%",
      scaleLimit: { min: 1, max: 12 },
      itemStyle: { areaColor: "#e9edf2", borderColor: "#ffffff", borderWidth: 0.6 },
      emphasis: { itemStyle: { areaColor: "#dde3ea" }, label: { show: false } },
      tooltip: { show: false },
    },
    series: ordered.map(([category, list], index) => ({
      name: category,
      type: "scatter",
      coordinateSystem: "geo",
      data: list,
      symbolSize: (v: number[]) => 5 + Math.sqrt((v[2] ?? 0) / max) * 22,
      itemStyle: {
        color: colorBy >= 0 ? (STATUS_COLORS[category] ?? (index < 16 ? colorFor(category, index) : hashColor(category))) : "#3b5bdb",
        opacity: 0.72,
        borderColor: "#ffffff",
        borderWidth: 1,
      },
      emphasis: { scale: 1.2 },
    })),
  }).dispose;
}

// ---------------------------------------------------------------------------------------------
// Search results: a chart when the result's shape allows one.

export function chartableType(result: QueryResult): "line" | "bar" | null {
  if (result.rows.length === 0) return null;
  const time = result.columns.indexOf("_timeslice");
  const numeric = numericColumns(result, new Set([time]));
  if (time >= 0 && numeric.length > 0) return "line";
  const texts = result.types.filter((t) => t === "text").length;
  if (texts === 1 && numeric.length === 1 && result.columns.length === 2) return "bar";
  return null;
}

export { formatBytes, formatCell };
