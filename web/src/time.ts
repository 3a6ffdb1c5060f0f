// Time ranges (relative presets or absolute from/to) and time zones.

import type { TimeRangeSpec } from "./api";

export const PRESETS: { value: string; label: string }[] = [
  { value: "-15m", label: "Last 15 minutes" },
  { value: "-1h", label: "Last hour" },
  { value: "-24h", label: "Last 24 hours" },
  { value: "-7d", label: "Last 7 days" },
  { value: "-30d", label: "Last 30 days" },
];

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function relativeMs(relative: string): number | null {
  const match = /^-?(\d+)([smhdw])$/.exec(relative.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

export function describeRange(range: TimeRangeSpec, tz: string): string {
  if ("relative" in range) {
    const preset = PRESETS.find((p) => p.value === range.relative);
    if (preset) return preset.label;
    return `Last ${range.relative.replace(/^-/, "")}`;
  }
  return `${toLocalInput(Date.parse(range.from), tz).replace("T", " ")} → ${toLocalInput(Date.parse(range.to), tz).replace("T", " ")}`;
}

/** The range as instants; a relative range ends now. */
export function resolveRange(range: TimeRangeSpec, now = Date.now()): { from: string; to: string } {
  if ("relative" in range) {
    const span = relativeMs(range.relative) ?? 7 * UNIT_MS.d!;
    return { from: new Date(now - span).toISOString(), to: new Date(now).toISOString() };
  }
  return { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString() };
}

export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

export function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  const zones = intl.supportedValuesOf ? intl.supportedValuesOf("timeZone") : [];
  const all = new Set(["UTC", browserTimeZone(), ...zones]);
  return [...all];
}

function offsetMs(utcMs: number, tz: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: tz,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(utcMs));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour") % 24, get("minute"), get("second"));
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/** `YYYY-MM-DDTHH:MM` wall time in `tz` → epoch ms. */
export function fromLocalInput(value: string, tz: string): number | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!match) return null;
  const wall = Date.UTC(+match[1]!, +match[2]! - 1, +match[3]!, +match[4]!, +match[5]!, +(match[6] ?? 0));
  let guess = wall - offsetMs(wall, tz);
  guess = wall - offsetMs(guess, tz);
  return guess;
}

/** epoch ms → `YYYY-MM-DDTHH:MM` wall time in `tz`, for datetime-local inputs. */
export function toLocalInput(ms: number, tz: string): string {
  const local = new Date(ms + offsetMs(ms, tz));
  return local.toISOString().slice(0, 16);
}
