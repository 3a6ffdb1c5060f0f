// ECharts, tree-shaken to the charts the dashboards use, with the world map registered from
// the world-atlas TopoJSON bundled into the app (no tiles, nothing fetched at run time).

import * as echarts from "echarts/core";
import { BarChart, LineChart, PieChart, ScatterChart } from "echarts/charts";
import {
  GeoComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  TooltipComponent,
  DataZoomComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import { feature } from "topojson-client";
import type { Topology, GeometryCollection } from "topojson-specification";
import worldTopology from "world-atlas/countries-110m.json";

echarts.use([
  BarChart,
  LineChart,
  PieChart,
  ScatterChart,
  GeoComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  TooltipComponent,
  DataZoomComponent,
  CanvasRenderer,
]);

let worldRegistered = false;
export function ensureWorldMap(): void {
  if (worldRegistered) return;
  const topology = worldTopology as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const countries = feature(topology, topology.objects.countries);
  // Antarctica takes a fifth of the height of a world map and never sends mail.
  countries.features = countries.features.filter((f) => f.properties?.name !== "Antarctica");
  echarts.registerMap("world", countries as unknown as Parameters<typeof echarts.registerMap>[1]);
  worldRegistered = true;
}

export type Chart = echarts.ECharts;
export type Option = echarts.EChartsCoreOption;

/** A chart in `element` that follows the element's size; returns the chart and its disposer. */
export function mountChart(element: HTMLElement, option: Option): { chart: Chart; dispose: () => void } {
  const chart = echarts.init(element, null, { renderer: "canvas" });
  chart.setOption(option);
  const observer = new ResizeObserver(() => chart.resize());
  observer.observe(element);
  return {
    chart,
    dispose: () => {
      observer.disconnect();
      chart.dispose();
    },
  };
}

export const TEXT_COLOR = "#495057";
export const AXIS_COLOR = "#ced4da";
export const GRID_COLOR = "#eef0f3";
export const FONT = "Inter, 'Segoe UI', system-ui, -apple-system, sans-serif";
