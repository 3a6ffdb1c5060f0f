// Number, size and time formatting shared by panels, tables and exports.

import type { Cell, ColumnType } from "./api";

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimalFormats = new Map<number, Intl.NumberFormat>();

export function formatNumber(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (decimals === undefined) {
    if (Number.isInteger(value)) return integer.format(value);
    decimals = Math.abs(value) >= 100 ? 1 : 2;
  }
  let format = decimalFormats.get(decimals);
  if (!format) {
    format = new Intl.NumberFormat("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
    decimalFormats.set(decimals, format);
  }
  return format.format(value);
}

/** Short form for axes: 12.3K, 4.5M. */
export function formatCompact(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${trim(value / 1e9)}B`;
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e3) return `${trim(value / 1e3)}K`;
  return trim(value);
}

function trim(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(value >= 10 ? 1 : 2).replace(/\.?0+$/, "");
}

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];
/** Bytes in binary units (1 GB = 1024³ bytes, as the app's `size/1Gi`), two decimals. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? formatNumber(value, 0) : formatNumber(value, 2)} ${UNITS[unit]}`;
}

const timeFormats = new Map<string, Intl.DateTimeFormat>();
function timeFormat(tz: string, withTime: boolean): Intl.DateTimeFormat {
  const key = `${tz}|${withTime}`;
  let format = timeFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      ...(withTime ? { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" } : {}),
    });
    timeFormats.set(key, format);
  }
  return format;
}

export function formatTime(ms: number, tz: string, withTime = true): string {
  return timeFormat(tz, withTime).format(new Date(ms)).replace(",", "");
}

/** Midnight-aligned times show as a date only. */
export function formatTimeSmart(ms: number, tz: string): string {
  const full = formatTime(ms, tz, true);
  return full.endsWith("00:00:00") ? full.slice(0, 10) : full;
}

export function formatCell(value: Cell, type: ColumnType | undefined, tz: string): string {
  if (value === null || value === undefined) return "";
  if (type === "time" && typeof value === "number") return formatTimeSmart(value, tz);
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  return String(value);
}

export function isNumericType(type: ColumnType | undefined): boolean {
  return type === "int" || type === "float";
}

/** Statuses of Exchange message trace, each with its own colour everywhere. */
export const STATUS_COLORS: Record<string, string> = {
  Delivered: "#2f9e44",
  Failed: "#e03131",
  Pending: "#f59f00",
  GettingStatus: "#fab005",
  FilteredAsSpam: "#9c36b5",
  Quarantined: "#7048e8",
  Expanded: "#1c7ed6",
  None: "#868e96",
  Recalled: "#a0522d",
  Resolved: "#0ca678",
};

export const PALETTE = [
  "#3b5bdb", "#0ca678", "#f08c00", "#ae3ec9", "#1098ad", "#e8590c", "#5c940d", "#d6336c",
  "#4263eb", "#74b816", "#f76707", "#7950f2", "#15aabf", "#c2255c", "#37b24d", "#fd7e14",
];

export function colorFor(name: string, index: number): string {
  return STATUS_COLORS[name] ?? PALETTE[index % PALETTE.length]!;
}

/** A stable colour for a category that has no fixed one (countries, organizations). */
export function hashColor(name: string): string {
  if (STATUS_COLORS[name]) return STATUS_COLORS[name]!;
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) | 0;
  return PALETTE[Math.abs(hash) % PALETTE.length]!;
}
