// The HTTP API (crates/server/API.md): typed calls, the bearer token, and the sign-in
// prompt shown when the server answers 401.

import { h, modal } from "./dom";

export type ColumnType = "time" | "int" | "float" | "text" | "bool" | "null";
export type Cell = string | number | boolean | null;

export interface QueryRequest {
  query: string;
  from: string;
  to: string;
  tz?: string;
  variables?: Record<string, string>;
  offset?: number;
  limit?: number;
  id?: string;
}

export interface QueryResult {
  columns: string[];
  types: ColumnType[];
  rows: Cell[][];
  total_rows: number;
  offset: number;
  warnings: string[];
  elapsed_ms: number;
  cached: boolean;
  /** The keywords of the query's scope that a matching row contains (not those under NOT),
   * for highlighting; absent from answers of servers that do not send them. */
  keywords?: string[];
}

export interface Diagnostic {
  code: string;
  message: string;
  span: { start: number; end: number } | null;
  hint: string | null;
  line?: number;
  column?: number;
}

export interface Variable {
  name: string;
  label?: string;
  field?: string;
  default?: string;
}

export interface Visualization {
  type: string;
  options?: Record<string, unknown>;
}

export interface Panel {
  id: string;
  title: string;
  description?: string;
  query: string;
  visualization: Visualization;
  layout: { x: number; y: number; w: number; h: number };
}

export interface AppRef {
  id: string;
  version: string;
  key: string;
}

export type TimeRangeSpec = { relative: string } | { from: string; to: string };

export interface Dashboard {
  id: string;
  title: string;
  description?: string;
  app: AppRef | null;
  source_category?: string;
  time_range?: TimeRangeSpec;
  variables: Variable[];
  panels: Panel[];
  modified?: string;
}

export interface DashboardSummary {
  id: string;
  title: string;
  description?: string;
  app: AppRef | null;
  source_category?: string;
  modified?: string;
  edited?: boolean;
}

export interface InstalledApp {
  version: string;
  source_category: string;
  installed_at: string;
  dashboards: string[];
}

export interface App {
  id: string;
  name: string;
  description?: string;
  versions: string[];
  latest: string;
  installed: InstalledApp | null;
}

export interface UpgradeResult {
  app: App;
  replaced: string[];
  kept_copies: string[];
  added?: string[];
  removed?: string[];
}

export interface Health {
  status: string;
  rows?: number;
  generation?: number;
  /** The city database: its schema (`dbip-lite`, `maxmind`) and build date. */
  geo?: { schema?: string | null; build_date?: string | null; loaded?: boolean } | null;
  /** The threat-intelligence feeds and how many indicators answer lookups. */
  threat?: { index?: { indicators?: number }; feeds?: { feeds?: { name: string; last_error?: string | null }[] } } | null;
}

/** One collector's state (`GET /api/v1/collectors`). */
export interface CollectorStatus {
  tenant: string;
  api: "graph" | "reporting";
  state: "starting" | "backfilling" | "collecting" | "failing" | "stopped";
  organization: string | null;
  organization_source: "configured" | "tenant" | "records" | "none";
  organization_note: string | null;
  checkpoint: string | null;
  poll_start: string | null;
  poll_target: string | null;
  last_success: string | null;
  last_error: string | null;
  last_error_at: string | null;
  polls: number;
  failed_polls: number;
  windows: number;
  records: number;
  inserted: number;
  updated: number;
  lag_seconds: number | null;
}

/** An answer other than 2xx: the server's message, and the diagnostics of a query. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly diagnostics: Diagnostic[] = [],
    readonly panel: string | null = null,
  ) {
    super(message);
  }
}

const TOKEN_KEY = "mailscope.token";

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

let signIn: Promise<boolean> | null = null;

/** Asks for the access token once, however many requests were refused at the same time. */
function promptForToken(rejected: boolean): Promise<boolean> {
  if (!signIn) {
    const input = h("input", {
      type: "password",
      name: "token",
      class: "input",
      autocomplete: "current-password",
      placeholder: "Access token",
      "aria-label": "Access token",
      required: true,
    });
    const note = h(
      "p",
      { class: "muted" },
      rejected && token() ? "The token was not accepted. " : "",
      "This server requires an access token. It is kept for this browser tab only.",
    );
    signIn = modal({
      title: "Sign in to mailscope",
      body: [note, input],
      actions: [{ label: "Sign in", value: "signin", kind: "primary" }],
      className: "modal-signin",
    }).then((value) => {
      signIn = null;
      if (value === "signin" && input.value.trim() !== "") {
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        return true;
      }
      return false;
    });
  }
  return signIn;
}

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  for (;;) {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const current = token();
    if (current) headers["Authorization"] = `Bearer ${current}`;
    let response: Response;
    try {
      response = await fetch(`api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApiError(0, "the server cannot be reached");
    }
    if (response.status === 401) {
      const hadToken = current !== null;
      if (await promptForToken(hadToken)) continue;
      throw new ApiError(401, "an access token is required");
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      const answer = (parsed ?? {}) as { error?: string; errors?: Diagnostic[]; panel?: string };
      if (Array.isArray(answer.errors) && answer.errors.length > 0) {
        throw new ApiError(response.status, answer.errors[0]!.message, answer.errors, answer.panel ?? null);
      }
      throw new ApiError(
        response.status,
        answer.error ?? (text.trim() !== "" && parsed === null ? text.trim() : `the server answered ${response.status}`),
      );
    }
    return parsed as T;
  }
}

/** One message's story (`GET /api/v1/trace`, API.md "One message"). */
export interface Story {
  id: string;
  message_id: string | null;
  trace_ids: string[];
  subject: string | null;
  sender: string | null;
  organization: string | null;
  received: string | null;
  size: number | null;
  from_ip: string | null;
  origin: Record<string, string | number>;
  recipients: { recipient: string | null; status: string | null; to_ip: string | null; trace_id: string | null; received: string | null }[];
  statuses: Record<string, number>;
  cut: boolean;
  same_sender: RelatedMessage[];
  same_subject: RelatedMessage[];
}

export interface RelatedMessage {
  message_id: string | null;
  received: string | null;
  sender: string | null;
  subject: string | null;
  recipients: number;
}

export const api = {
  health: () => request<Health>("GET", "/health"),
  collectors: () => request<{ collectors: CollectorStatus[] }>("GET", "/collectors"),
  trace: (id: string) => request<Story>("GET", `/trace?${new URLSearchParams({ id }).toString()}`),
  query: (body: QueryRequest, signal?: AbortSignal) => request<QueryResult>("POST", "/query", body, signal),
  cancel: (id: string) => request<void>("POST", `/query/${encodeURIComponent(id)}/cancel`).catch(() => undefined),
  dashboards: () => request<DashboardSummary[]>("GET", "/dashboards"),
  dashboard: (id: string) => request<Dashboard>("GET", `/dashboards/${encodeURIComponent(id)}`),
  createDashboard: (definition: Omit<Dashboard, "id">) => request<Dashboard>("POST", "/dashboards", definition),
  saveDashboard: (definition: Dashboard) =>
    request<Dashboard>("PUT", `/dashboards/${encodeURIComponent(definition.id)}`, definition),
  deleteDashboard: (id: string) => request<void>("DELETE", `/dashboards/${encodeURIComponent(id)}`),
  duplicateDashboard: (id: string) => request<Dashboard>("POST", `/dashboards/${encodeURIComponent(id)}/duplicate`),
  variableValues: (id: string, name: string, from: string, to: string, limit = 200) =>
    request<{ values: { value: string; count: number }[] }>(
      "GET",
      `/dashboards/${encodeURIComponent(id)}/variables/${encodeURIComponent(name)}/values?` +
        new URLSearchParams({ from, to, limit: String(limit) }).toString(),
    ),
  apps: () => request<App[]>("GET", "/apps"),
  install: (id: string, sourceCategory: string, version?: string) =>
    request<App>("POST", `/apps/${encodeURIComponent(id)}/install`, {
      source_category: sourceCategory,
      ...(version ? { version } : {}),
    }),
  upgrade: (id: string, version?: string) =>
    request<UpgradeResult>("POST", `/apps/${encodeURIComponent(id)}/upgrade`, version ? { version } : {}),
  uninstall: (id: string) => request<void>("DELETE", `/apps/${encodeURIComponent(id)}`),
};

/** Every row of a query, page by page (the server keeps the result between pages). */
export async function queryAll(body: QueryRequest, onProgress?: (rows: number, total: number) => void): Promise<QueryResult> {
  const pageSize = 10000;
  const first = await api.query({ ...body, offset: 0, limit: pageSize });
  const rows = [...first.rows];
  while (rows.length < first.total_rows) {
    onProgress?.(rows.length, first.total_rows);
    const page = await api.query({ ...body, offset: rows.length, limit: pageSize });
    if (page.rows.length === 0) break;
    rows.push(...page.rows);
  }
  return { ...first, rows, offset: 0 };
}
