// Browser test of the web app against a running `mailscope serve` (started by the Rust test
// crates/server/tests/cli/browser.rs, or by hand). It drives the system Chromium and checks
// that what the pages show equals what the query API answers for the same queries, plus the
// filters, time range, search diagnostics, history, dashboard editing, apps, the access
// token prompt, and that attacker-chosen text stays text.
//
// Environment: MAILSCOPE_BASE_URL (e.g. http://127.0.0.1:8080/), MAILSCOPE_TOKEN,
// MAILSCOPE_SOURCE_CATEGORY (of the ingested data), MAILSCOPE_CHROMIUM (default
// /usr/bin/chromium), MAILSCOPE_SCREENSHOTS (folder for full-page screenshots).

import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const base = (process.env.MAILSCOPE_BASE_URL ?? "http://127.0.0.1:8080/").replace(/\/?$/, "/");
const token = process.env.MAILSCOPE_TOKEN ?? "";
const sourceCategory = process.env.MAILSCOPE_SOURCE_CATEGORY ?? "o365/messagetrace";
const executablePath = process.env.MAILSCOPE_CHROMIUM ?? "/usr/bin/chromium";
const screenshots = process.env.MAILSCOPE_SCREENSHOTS ?? path.resolve("screenshots");
const XSS_SUBJECT = "<img src=x onerror=alert(1)>";
const XSS_SENDER = '"><script>alert(2)</script>@evil.example';
const APP = "microsoft-exchange-trace-logs";
const SETTLE_MS = 180_000;

let passed = 0;
let failed = 0;
const failures = [];

async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed += 1;
    failures.push(name);
    console.log(`not ok - ${name}: ${error?.stack ?? error}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

function same(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${message}: got ${a}, expected ${e}`);
}

async function api(method, route, body) {
  const response = await fetch(`${base}api/v1${route}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: response.status, body: json };
}

async function apiOk(method, route, body) {
  const answer = await api(method, route, body);
  assert(answer.status >= 200 && answer.status < 300, `${method} ${route} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

// ------------------------------------------------------------------------------------------
// What the API says a panel should show, in the shape the page exposes.

const numericType = (t) => t === "int" || t === "float";
const col = (result, name) => {
  if (!name) return -1;
  const i = result.columns.indexOf(name);
  return i >= 0 ? i : result.columns.findIndex((c) => c.toLowerCase() === String(name).toLowerCase());
};
const asNumber = (v) => (typeof v === "number" ? v : v === null || v === undefined || v === "" || Number.isNaN(Number(v)) ? null : Number(v));

function expectPanel(panel, result, shown, sparkline) {
  const type = panel.visualization.type;
  const options = panel.visualization.options ?? {};
  const label = `panel “${panel.title}” (${panel.id})`;
  assert(shown.state === "ok", `${label} is in state ${shown.state}: ${shown.error ?? ""}`);
  if (result.rows.length === 0 && type !== "single_value") {
    same(shown.rows, "0", `${label} rows`);
    return;
  }
  same(shown.kind, type, `${label} kind`);
  if (type === "single_value") {
    let c = col(result, options.value);
    if (c < 0) c = result.types.findIndex((t, i) => numericType(t) && result.columns[i] !== "_timeslice");
    if (c < 0) c = result.columns.length - 1;
    const expected = result.rows.length === 0 ? 0 : (asNumber(result.rows[0][c]) ?? 0);
    same(Number(shown.value), expected, `${label} value`);
    const digits = shown.text.replace(/,/g, "");
    if (options.unit || typeof options.decimals === "number") {
      const decimals = typeof options.decimals === "number" ? options.decimals : 2;
      same(digits, expected.toFixed(decimals), `${label} displayed number`);
    } else if (Number.isInteger(expected)) {
      same(digits, String(expected), `${label} displayed number`);
    }
    if (sparkline) {
      assert(sparkline.rows.length > 0, `${label} sparkline query answered no rows`);
      same(Number(shown.sparkPoints), sparkline.rows.length, `${label} sparkline points`);
    }
    return;
  }
  if (type === "table") {
    const order = (Array.isArray(options.columns) ? options.columns : result.columns).filter((c) => result.columns.includes(c));
    const headers = order.length > 0 ? order : result.columns;
    same(shown.headers, headers, `${label} columns`);
    same(shown.firstRow, headers.map((h) => { const v = result.rows[0][result.columns.indexOf(h)]; return v === null ? "" : String(v); }), `${label} first row`);
    same(Number(shown.rows), result.rows.length, `${label} row count`);
    return;
  }
  if (type === "bar" || type === "pie") {
    let l = col(result, options.label);
    let v = col(result, options.value);
    if (l < 0) l = result.types.findIndex((t) => t === "text");
    if (v < 0) v = result.types.findIndex((t, i) => i !== l && numericType(t));
    const series = JSON.parse(shown.series ?? "[]");
    assert(series.length === 1, `${label} has ${series.length} series`);
    same(series[0].labels, result.rows.map((r) => (r[l] === null ? "(none)" : String(r[l]))), `${label} labels`);
    same(series[0].values, result.rows.map((r) => asNumber(r[v]) ?? 0), `${label} values`);
    return;
  }
  if (type === "map") {
    const lat = col(result, options.latitude ?? "latitude");
    const lon = col(result, options.longitude ?? "longitude");
    let v = col(result, options.value);
    if (v < 0) v = result.types.findIndex((t, i) => i !== lat && i !== lon && numericType(t));
    const located = result.rows.filter((r) => asNumber(r[lat]) !== null && asNumber(r[lon]) !== null);
    same(Number(shown.points), located.length, `${label} points`);
    same(Number(shown.total), located.reduce((n, r) => n + (asNumber(r[v]) ?? 0), 0), `${label} total`);
    assert(located.length > 0, `${label} has no located points to draw`);
    return;
  }
  // column, stacked_column, line, area
  const series = JSON.parse(shown.series ?? "[]");
  assert(series.length > 0, `${label} drew no series`);
  for (const s of series) {
    if (s.name === "violations") {
      const violation = col(result, options.outlier?.violation ?? `${options.outlier?.value}_violation`);
      const value = col(result, options.outlier?.value);
      const flagged = result.rows.filter((r) => r[violation] === 1 || r[violation] === true).map((r) => asNumber(r[value]));
      same(s.values, flagged, `${label} outlier violations`);
      continue;
    }
    const c = col(result, s.name);
    assert(c >= 0, `${label} series ${s.name} is not a column of the result`);
    same(s.values, result.rows.map((r) => asNumber(r[c])), `${label} series ${s.name}`);
  }
}

// ------------------------------------------------------------------------------------------

const consoleProblems = [];
let allowedConsole = [];
const dialogs = [];

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
await context.addInitScript(() => {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (event) => {
    window.__csp.push(`${event.violatedDirective} ${event.blockedURI}`);
  });
});
const page = await context.newPage();
page.setDefaultTimeout(60_000);
page.on("console", (message) => {
  if (message.type() !== "error" && !/Content.Security.Policy/i.test(message.text())) return;
  if (allowedConsole.some((re) => re.test(message.text()))) return;
  consoleProblems.push(`${message.type()}: ${message.text()}`);
});
page.on("pageerror", (error) => consoleProblems.push(`page error: ${error.message}`));
page.on("dialog", (dialog) => {
  dialogs.push(`${dialog.type()}: ${dialog.message()}`);
  void dialog.dismiss();
});
fs.mkdirSync(screenshots, { recursive: true });

async function goto(hash) {
  await page.goto(`${base}${hash}`);
}

async function waitSettled(previousGeneration) {
  await page.waitForFunction(
    (previous) => {
      const root = document.querySelector(".page-dashboard");
      if (!root || Number(root.dataset.generation ?? 0) <= previous) return false;
      const panels = [...document.querySelectorAll("[data-testid=panel]")];
      return panels.length > 0 && panels.every((p) => p.dataset.state === "ok" || p.dataset.state === "error");
    },
    previousGeneration,
    { timeout: SETTLE_MS },
  );
}

async function generation() {
  return page.evaluate(() => Number(document.querySelector(".page-dashboard")?.dataset.generation ?? 0));
}

async function shownPanels() {
  return page.$$eval("[data-testid=panel]", (elements) =>
    elements.map((el) => {
      const viz = el.querySelector(".panel-viz");
      return {
        id: el.dataset.panelId,
        state: el.dataset.state,
        error: el.querySelector("[data-testid=panel-error]")?.textContent ?? null,
        kind: viz?.dataset.kind ?? null,
        rows: viz?.dataset.rows ?? null,
        value: viz?.dataset.value ?? null,
        text: viz?.querySelector(".single-value-number")?.textContent ?? "",
        sparkPoints: viz?.querySelector(".sparkline")?.dataset.points ?? null,
        series: viz?.dataset.series ?? null,
        points: viz?.dataset.points ?? null,
        total: viz?.dataset.total ?? null,
        headers: [...(viz?.querySelectorAll("thead th") ?? [])].map((th) => th.dataset.column),
        firstRow: [...(viz?.querySelector("tbody tr")?.querySelectorAll("td") ?? [])].map((td) => td.dataset.raw),
        cells: [...(viz?.querySelectorAll("tbody td") ?? [])].map((td) => td.textContent),
        firstRowText: [...(viz?.querySelector("tbody tr")?.querySelectorAll("td") ?? [])].map((td) => td.textContent),
      };
    }),
  );
}

/** Every panel of the dashboard on the page equals the API's answer for its query. */
async function checkDashboard(definition, variables) {
  const window = await page.evaluate(() => {
    const root = document.querySelector(".page-dashboard");
    return { from: root.dataset.from, to: root.dataset.to, tz: root.dataset.tz };
  });
  const shown = await shownPanels();
  same(shown.map((p) => p.id).sort(), definition.panels.map((p) => p.id).sort(), `panels of ${definition.title}`);
  const answers = await Promise.all(
    definition.panels.map((panel) =>
      apiOk("POST", "/query", { query: panel.query, from: window.from, to: window.to, tz: window.tz, variables, limit: 1000 }),
    ),
  );
  const sparklines = await Promise.all(
    definition.panels.map((panel) => {
      const query = panel.visualization.type === "single_value" ? panel.visualization.options?.sparkline_query : null;
      return query ? apiOk("POST", "/query", { query, from: window.from, to: window.to, tz: window.tz, variables, limit: 1000 }) : null;
    }),
  );
  const problems = [];
  definition.panels.forEach((panel, i) => {
    try {
      expectPanel(panel, answers[i], shown.find((p) => p.id === panel.id), sparklines[i]);
    } catch (error) {
      problems.push(error.message);
    }
  });
  assert(problems.length === 0, problems.join("\n"));
  return { shown, answers, window };
}

function defaults(definition) {
  return Object.fromEntries(definition.variables.map((v) => [v.name, v.default ?? "*"]));
}

// ------------------------------------------------------------------------------------------

let dashboards = [];
let overview = null;
let monitoring = null;

await step("the app asks for the access token and keeps it for the tab", async () => {
  allowedConsole = [/status of 401/];
  await goto("#/dashboards");
  const input = page.locator(".modal-signin input[name=token]");
  await input.waitFor({ state: "visible", timeout: 20_000 });
  await input.fill(token);
  await page.click(".modal-signin [data-action=signin]");
  await page.locator("[data-testid=dashboard-card]").first().waitFor({ timeout: 30_000 });
  const kept = await page.evaluate(() => sessionStorage.getItem("mailscope.token"));
  same(kept, token, "token in sessionStorage");
  allowedConsole = [];
});

await step("the dashboard list shows the installed app's dashboards", async () => {
  await loadAppDashboards();
  const cards = await page.$$eval("[data-testid=dashboard-card]", (els) => els.map((e) => e.dataset.dashboardId));
  same(cards.sort(), dashboards.map((d) => d.id).sort(), "dashboard cards");
});

async function checkBothDashboards(label, takeScreenshots) {
  for (const which of ["overview", "monitoring"]) {
    await step(`every panel of the ${which} dashboard renders the API's numbers (${label})`, async () => {
      const definition = which === "overview" ? overview : monitoring;
      assert(definition, `no ${which} dashboard`);
      await goto(`#/dashboards/${encodeURIComponent(definition.id)}`);
      await waitSettled(0);
      await checkDashboard(definition, defaults(definition));
      if (takeScreenshots) {
        await page.waitForTimeout(800); // chart animations
        await page.evaluate(() => document.querySelectorAll(".toast").forEach((toast) => toast.remove()));
        await page.screenshot({ path: path.join(screenshots, `dashboard-${which}.png`), fullPage: true });
      }
    });
  }
}

async function loadAppDashboards() {
  dashboards = await apiOk("GET", "/dashboards");
  const appBoards = dashboards.filter((d) => d.app && d.app.id === APP);
  assert(appBoards.length >= 2, `the API lists ${appBoards.length} app dashboards`);
  const full = await Promise.all(appBoards.map((d) => apiOk("GET", `/dashboards/${encodeURIComponent(d.id)}`)));
  overview = full.find((d) => d.app.key === "overview") ?? full[0];
  monitoring = full.find((d) => d !== overview);
}

await checkBothDashboards("first version", false);

await step("a status filter and a time range change the numbers to the API's", async () => {
  await goto(`#/dashboards/${encodeURIComponent(overview.id)}`);
  await waitSettled(0);
  const before = (await shownPanels()).filter((p) => p.kind === "single_value").map((p) => p.value);
  // The dropdown offers `*` and the values the API lists for the dashboard's time range.
  const window0 = await page.evaluate(() => ({ from: document.querySelector(".page-dashboard").dataset.from, to: document.querySelector(".page-dashboard").dataset.to }));
  const listed = await apiOk("GET", `/dashboards/${encodeURIComponent(overview.id)}/variables/status/values?${new URLSearchParams({ ...window0, limit: "200" })}`);
  assert(listed.values.some((v) => v.value === "Delivered"), "the API lists no Delivered status");
  await page.focus("input[data-variable=status]");
  const optionsSelector = "label.field-filter:has(input[data-variable=status]) datalist option";
  await page.waitForFunction((selector) => document.querySelectorAll(selector).length > 1, optionsSelector, { timeout: 30_000 });
  same(await page.$$eval(optionsSelector, (options) => options.map((o) => o.value)), ["*", ...listed.values.map((v) => v.value)], "status choices");

  let gen = await generation();
  await page.fill("input[data-variable=status]", "Delivered");
  await page.press("input[data-variable=status]", "Enter");
  await waitSettled(gen);
  const variables = { ...defaults(overview), status: "Delivered" };
  const filtered = await checkDashboard(overview, variables);
  const after = filtered.shown.filter((p) => p.kind === "single_value").map((p) => p.value);
  assert(JSON.stringify(before) !== JSON.stringify(after), `single values did not change with the filter: ${before} vs ${after}`);
  assert(page.url().includes("v.status=Delivered"), `the URL does not carry the filter: ${page.url()}`);

  gen = await generation();
  await page.selectOption("[data-testid=time-range]", "-24h");
  await waitSettled(gen);
  const narrowed = await checkDashboard(overview, variables);
  const span = Date.parse(narrowed.window.to) - Date.parse(narrowed.window.from);
  same(span, 24 * 3600 * 1000, "time range span");
  assert(page.url().includes("range=-24h"), `the URL does not carry the range: ${page.url()}`);
  const narrowedValues = narrowed.shown.filter((p) => p.kind === "single_value").map((p) => p.value);
  assert(JSON.stringify(narrowedValues) !== JSON.stringify(after), "single values did not change with the time range");

  // The URL alone restores the view.
  await page.reload();
  await waitSettled(0);
  same(await page.inputValue("input[data-variable=status]"), "Delivered", "status filter after reload");
  same(await page.inputValue("[data-testid=time-range]"), "-24h", "time range after reload");
  await checkDashboard(overview, variables);
});

await step("a panel's title opens its query in search with the dashboard's variables", async () => {
  await goto(`#/dashboards/${encodeURIComponent(overview.id)}?v.status=Delivered&range=-7d`);
  await waitSettled(0);
  const window = await page.evaluate(() => ({ from: document.querySelector(".page-dashboard").dataset.from, to: document.querySelector(".page-dashboard").dataset.to }));
  const panel = overview.panels.find((p) => p.visualization.type === "table") ?? overview.panels[0];
  await page.click(`[data-panel-id="${panel.id}"] [data-testid=panel-title]`);
  await page.waitForFunction(() => document.querySelector("[data-page=search]")?.dataset.state === "done", null, { timeout: 60_000 });
  same(await editorText(), panel.query, "query in the editor");
  same(await page.inputValue("[data-variable=status]"), "Delivered", "status variable in search");
  const answer = await apiOk("POST", "/query", { query: panel.query, ...window, variables: { ...defaults(overview), status: "Delivered" }, limit: 100 });
  const total = Number((await page.textContent("[data-testid=total-rows]")).replace(/[^0-9]/g, ""));
  same(total, answer.total_rows, "rows of the panel's query in search");
});

await step("attacker-chosen sender and subject show as literal text on the dashboard", async () => {
  await goto(`#/dashboards/${encodeURIComponent(overview.id)}?v.sender_address=${encodeURIComponent("*evil.example")}&range=-30d`);
  await waitSettled(0);
  const variables = { ...defaults(overview), sender_address: "*evil.example" };
  const { shown } = await checkDashboard(overview, variables);
  const table = shown.find((p) => p.kind === "table" && p.headers.includes("sender_address"));
  assert(table, "no table with sender_address on the overview");
  const index = table.headers.indexOf("sender_address");
  same(table.firstRowText[index], XSS_SENDER, "sender cell text");
  const keywords = shown.find((p) => overview.panels.find((d) => d.id === p.id)?.query.includes("count_frequent"));
  assert(keywords, "no keyword panel");
  const text = keywords.series ?? JSON.stringify(keywords.cells);
  for (const word of ["img", "onerror", "alert"]) assert(text.includes(`"${word}"`), `keyword ${word} missing: ${text}`);
  same(await page.locator("img[src=x]").count(), 0, "img[src=x] elements");
  same(dialogs, [], "dialogs");
});

await step("the threat panels show the feeds' matches, markup as text", async () => {
  await goto(`#/dashboards/${encodeURIComponent(monitoring.id)}?range=-30d`);
  await waitSettled(0);
  const { shown } = await checkDashboard(monitoring, defaults(monitoring));
  const tables = shown.filter((p) => p.kind === "table" && p.headers.includes("malicious_confidence"));
  assert(tables.length > 0, "no threat table with rows");
  const senders = tables.find((p) => p.headers.includes("sender_address"));
  assert(senders, "no sender threat table");
  same(senders.firstRowText[senders.headers.indexOf("sender_address")], XSS_SENDER, "threat table sender text");
  same(senders.firstRowText[senders.headers.indexOf("malicious_confidence")], "high", "threat level");
  const text = await page.textContent(`[data-panel-id="${senders.id}"]`);
  assert(text.includes("<b onmouseover=alert(3)>phish</b>"), `label shown as text: ${text}`);
  same(await page.locator("b[onmouseover]").count(), 0, "b[onmouseover] elements");
  same(await page.textContent("[data-testid=threat-status]"), "Threat intel: 2 feeds · 2 indicators", "threat status line");
  const geoLine = await page.textContent("[data-testid=geo-status]");
  assert(/^Geo: DB-IP Lite · built \d{4}-\d{2}-\d{2}$/.test(geoLine), `geo status line: ${geoLine}`);
  same(dialogs, [], "dialogs");
});

const badQuery = `_sourceCategory=${sourceCategory} | json "Status" as status | count by status | sort by nosuch(`;
const xssQuery = `_sourceCategory=${sourceCategory}\n| json "Subject", "SenderAddress" as subject, sender_address\n| where sender_address matches "*evil.example"\n| count by subject, sender_address`;

async function typeQuery(text) {
  await page.click("[data-testid=search-editor] .cm-content");
  await page.keyboard.press("Control+a");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(text);
}

async function editorText() {
  return page.$$eval("[data-testid=search-editor] .cm-line", (lines) => lines.map((l) => l.textContent).join("\n"));
}

await step("a search that does not compile is underlined with the server's message", async () => {
  allowedConsole = [/status of 400/];
  await goto("#/search?range=-30d");
  await typeQuery(badQuery);
  await page.keyboard.press("Control+Enter");
  await page.locator("[data-testid=diagnostics]:not([hidden])").waitFor({ timeout: 30_000 });
  const answer = await api("POST", "/query", { query: badQuery, from: new Date(Date.now() - 86400000).toISOString(), to: new Date().toISOString() });
  same(answer.status, 400, "status of the bad query");
  const diagnostic = answer.body.errors[0];
  const message = await page.textContent("[data-testid=diagnostics] .diagnostic-message");
  same(message, diagnostic.message, "diagnostic message");
  const underline = page.locator("[data-testid=search-editor] .cm-lintRange-error");
  assert((await underline.count()) >= 1, "no underlined range");
  const underlined = (await underline.allTextContents()).join("");
  const { start, end } = diagnostic.span;
  const candidates = [badQuery.slice(start, Math.max(end, start + 1)), badQuery.slice(Math.max(0, start - 1), start)];
  assert(underlined !== "" && candidates.includes(underlined), `underlined ${JSON.stringify(underlined)}, the span covers ${JSON.stringify(candidates[0])}`);
  allowedConsole = [];
});

await step("search results show the attacker's subject and sender as literal text", async () => {
  await typeQuery(xssQuery);
  await page.click("[data-testid=run]");
  await page.waitForFunction(() => document.querySelector("[data-page=search]")?.dataset.state === "done", null, { timeout: 60_000 });
  const cells = await page.$$eval("[data-testid=results] tbody td", (tds) => tds.map((td) => td.textContent));
  assert(cells.includes(XSS_SUBJECT), `subject not shown literally: ${JSON.stringify(cells)}`);
  assert(cells.includes(XSS_SENDER), `sender not shown literally: ${JSON.stringify(cells)}`);
  same(await page.locator("img[src=x]").count(), 0, "img[src=x] elements");
  const scripts = await page.$$eval("script", (list) => list.filter((s) => (s.textContent ?? "").includes("alert")).length);
  same(scripts, 0, "injected script elements");
  same(dialogs, [], "dialogs");
});

await step("a Message-ID in the results opens the message's page: recipients, origin, markup as text", async () => {
  const query = `_sourceCategory=${sourceCategory}\n| json "MessageId", "Subject" as message_id, subject\n| where message_id = "<hostile@evil.example>"\n| count by message_id, subject`;
  await typeQuery(query);
  await page.click("[data-testid=run]");
  await page.waitForFunction(() => document.querySelector("[data-page=search]")?.dataset.state === "done", null, { timeout: 60_000 });
  const link = page.locator("[data-testid=results] [data-testid=message-link]").first();
  same(await link.textContent(), "<hostile@evil.example>", "the link's text");
  await link.click();
  await page.waitForFunction(() => ["done", "error"].includes(document.querySelector("[data-page=message]")?.dataset.state ?? ""), null, { timeout: 60_000 });
  same(await page.getAttribute("[data-page=message]", "data-state"), "done", "the message page's state");
  const story = await apiOk("GET", `/trace?id=${encodeURIComponent("<hostile@evil.example>")}`);
  same(await page.textContent("[data-testid=message-subject]"), XSS_SUBJECT, "subject");
  same(await page.textContent("[data-testid=message-sender]"), XSS_SENDER, "sender");
  same(await page.locator("[data-testid=message-recipients] tbody tr").count(), story.recipients.length, "recipient rows");
  const statuses = Object.entries(story.statuses).map(([status, n]) => `${n} ${status}`).join(", ");
  same(await page.textContent("[data-testid=message-statuses]"), statuses, "statuses");
  same(await page.locator("img[src=x]").count(), 0, "img[src=x] elements");
  const scripts = await page.$$eval("script", (list) => list.filter((s) => (s.textContent ?? "").includes("alert")).length);
  same(scripts, 0, "injected script elements");
  same(dialogs, [], "dialogs");
  await page.screenshot({ path: path.join(screenshots, "message.png"), fullPage: true });

  // A search for the bare Message-ID finds its row and offers the same page.
  await goto("#/search?range=-30d");
  await typeQuery("<hostile@evil.example>");
  await page.click("[data-testid=run]");
  await page.waitForFunction(() => document.querySelector("[data-page=search]")?.dataset.state === "done", null, { timeout: 60_000 });
  same(await page.textContent("[data-testid=total-rows]"), `${story.recipients.length} row${story.recipients.length === 1 ? "" : "s"}`, "rows of the Message-ID search");
  await page.click("[data-testid=open-message]");
  await page.waitForFunction(() => document.querySelector("[data-page=message]")?.dataset.state === "done", null, { timeout: 60_000 });
  same(await page.textContent("[data-testid=message-id]"), "<hostile@evil.example>", "the message opened from the search");
  same(dialogs, [], "dialogs");
  await goto("#/search?range=-30d");
});

await step("search results mark what the query's keywords matched, markup still as text", async () => {
  // Only the hostile record and generated spam have this subject; the keyword matches it.
  const hostile = `_sourceCategory=${sourceCategory} onerror\n| json "Subject" as subject\n| count by subject`;
  await typeQuery(hostile);
  await page.click("[data-testid=run]");
  await page.waitForFunction(() => document.querySelector("[data-page=search]")?.dataset.state === "done", null, { timeout: 60_000 });
  const hostileCells = await page.$$eval("[data-testid=results] tbody td", (tds) =>
    tds.map((td) => ({ text: td.textContent, marks: [...td.querySelectorAll("mark.keyword-hit")].map((m) => m.textContent) })),
  );
  const subjectCell = hostileCells.find((c) => c.text === XSS_SUBJECT);
  assert(subjectCell, `subject not shown literally: ${JSON.stringify(hostileCells)}`);
  same(subjectCell.marks, ["onerror"], "marks in the hostile subject");
  same(await page.locator("img[src=x]").count(), 0, "img[src=x] elements");
  same(dialogs, [], "dialogs");

  // "overdue" is only in subjects of the generated data ("Invoice overdue", "Re: Invoice 123 overdue").
  const keyword = "overdue";
  const query = `_sourceCategory=${sourceCategory} ${keyword}\n| json "Subject", "SenderAddress" as subject, sender_address\n| fields subject, sender_address`;
  await typeQuery(query);
  await page.click("[data-testid=run]");
  await page.waitForFunction(() => document.querySelector("[data-page=search]")?.dataset.state === "done", null, { timeout: 60_000 });
  const total = Number((await page.textContent("[data-testid=total-rows]")).replace(/[^0-9]/g, ""));
  assert(total > 0, `the keyword search found no rows`);
  const rows = await page.$$eval("[data-testid=results] tbody tr", (trs) =>
    trs.map((tr) => ({ text: tr.textContent, marks: [...tr.querySelectorAll("mark.keyword-hit")].map((m) => m.textContent) })),
  );
  same(rows.length, Math.min(total, 100), "rows shown");
  const unmarked = rows.filter((row) => !row.marks.some((mark) => mark.toLowerCase() === keyword));
  assert(unmarked.length === 0, `${unmarked.length} of ${rows.length} rows have no mark of “${keyword}”: ${JSON.stringify(unmarked.slice(0, 5))}`);
  const stray = rows.flatMap((row) => row.marks).filter((mark) => mark.toLowerCase() !== keyword);
  same(stray, [], "marks of something else");
  const answer = await apiOk("POST", "/query", {
    query,
    from: new Date(Date.now() - 30 * 86400000).toISOString(),
    to: new Date().toISOString(),
    limit: 1,
  });
  same(answer.keywords, [keyword], "the API's keywords");
  await page.evaluate(() => document.querySelectorAll(".toast").forEach((toast) => toast.remove()));
  await page.screenshot({ path: path.join(screenshots, "search-keyword.png"), fullPage: true });
});

await step("search results chart a time series, page through the API and export every row", async () => {
  const query = `_sourceCategory=${sourceCategory}\n| json "Status" as status\n| timeslice 1d\n| count by _timeslice, status\n| transpose row _timeslice column status`;
  await typeQuery(query);
  await page.keyboard.press("Control+Enter");
  await page.waitForFunction(() => document.querySelector("[data-page=search]")?.dataset.state === "done", null, { timeout: 60_000 });
  const chart = await page.$eval("[data-testid=search-chart]", (el) => ({ hidden: el.hidden, series: el.dataset.series ?? null }));
  assert(!chart.hidden && chart.series, "no chart for a _timeslice result");
  await page.waitForTimeout(500);
  await page.evaluate(() => document.querySelectorAll(".toast").forEach((toast) => toast.remove()));
  await page.screenshot({ path: path.join(screenshots, "search.png"), fullPage: true });

  const raw = `_sourceCategory=${sourceCategory}\n| json "SenderAddress" as sender_address\n| count by sender_address`;
  await typeQuery(raw);
  await page.keyboard.press("Control+Enter");
  await page.waitForFunction(() => document.querySelector("[data-page=search]")?.dataset.state === "done", null, { timeout: 60_000 });
  const total = Number((await page.textContent("[data-testid=total-rows]")).replace(/[^0-9]/g, ""));
  assert(total > 100, `expected more than one page of senders, got ${total}`);
  const [csv] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=export-csv]")]);
  const csvText = fs.readFileSync(await csv.path(), "utf8");
  const csvLines = csvText.split("\r\n").filter((line) => line !== "");
  same(csvLines[0], "sender_address,_count", "CSV header");
  same(csvLines.length - 1, total, "CSV rows (every page)");
  const [json] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=export-json]")]);
  const objects = JSON.parse(fs.readFileSync(await json.path(), "utf8"));
  same(objects.length, total, "JSON rows (every page)");
  same(Object.keys(objects[0]), ["sender_address", "_count"], "JSON keys");
  await page.click("[data-testid=page-next]");
  await page.waitForFunction(() => document.querySelector("[data-testid=page-info]")?.textContent?.startsWith("Rows 101"), null, { timeout: 30_000 });
  const hash = await page.evaluate(() => location.hash);
  const params = new URLSearchParams(hash.split("?")[1] ?? "");
  assert(params.get("q") === raw, "the URL does not carry the query");
});

await step("search history keeps the last searches and reuses one on click", async () => {
  await goto("#/search");
  const items = await page.$$eval("[data-testid=history-item]", (els) => els.map((e) => e.title));
  assert(items.length >= 4, `history has ${items.length} entries`);
  same(items[0], `_sourceCategory=${sourceCategory}\n| json "SenderAddress" as sender_address\n| count by sender_address`, "newest history entry");
  assert(items.includes(badQuery) && items.includes(xssQuery), "history lacks earlier searches");
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("mailscope.history") ?? "[]").length);
  assert(stored <= 50 && stored >= 4, `localStorage holds ${stored} entries`);
  await page.locator("[data-testid=history-item]").nth(items.indexOf(xssQuery)).click();
  await page.waitForFunction(() => document.querySelector("[data-page=search]")?.dataset.state === "done", null, { timeout: 60_000 });
  same(await editorText(), xssQuery, "editor text after choosing from history");
});

let editedTitle = null;
await step("a panel's title and type and the dashboard's title are edited and saved", async () => {
  await goto(`#/dashboards/${encodeURIComponent(overview.id)}`);
  await waitSettled(0);
  await page.click("[data-testid=edit-toggle]");
  const target = overview.panels.find((p) => p.visualization.type === "single_value") ?? overview.panels[0];
  editedTitle = `${target.title} (mine)`;
  await page.click(`[data-panel-id="${target.id}"] [data-testid=edit-panel]`);
  await page.fill("[data-testid=panel-title-input]", editedTitle);
  await page.selectOption("[data-testid=panel-type-select]", "table");
  await page.click(".modal [data-action=save]");
  await page.locator(".modal").waitFor({ state: "detached", timeout: 30_000 });
  await page.waitForFunction(
    ({ id, title }) => document.querySelector(`[data-panel-id="${id}"] .panel-title span`)?.textContent === title &&
      document.querySelector(`[data-panel-id="${id}"]`)?.dataset.state === "ok",
    { id: target.id, title: editedTitle },
    { timeout: 60_000 },
  );
  const stored = await apiOk("GET", `/dashboards/${encodeURIComponent(overview.id)}`);
  const panel = stored.panels.find((p) => p.id === target.id);
  same(panel.title, editedTitle, "stored title");
  same(panel.visualization.type, "table", "stored visualization");
  const list = await apiOk("GET", "/dashboards");
  same(list.find((d) => d.id === overview.id)?.edited, true, "dashboard marked edited");

  const renamed = `${overview.title} (team)`;
  await page.click("[data-testid=edit-details]");
  await page.fill("[data-testid=dashboard-title-input]", renamed);
  await page.click(".modal [data-action=save]");
  await page.locator(".modal").waitFor({ state: "detached", timeout: 30_000 });
  same(await page.textContent("[data-testid=dashboard-title]"), renamed, "shown dashboard title");
  same((await apiOk("GET", `/dashboards/${encodeURIComponent(overview.id)}`)).title, renamed, "stored dashboard title");
});

await step("a dashboard is duplicated and the copy deleted", async () => {
  await goto(`#/dashboards/${encodeURIComponent(monitoring.id)}`);
  await waitSettled(0);
  await page.click("[data-testid=duplicate]");
  await page.waitForFunction((id) => location.hash.startsWith("#/dashboards/") && !location.hash.includes(encodeURIComponent(id)), monitoring.id, { timeout: 30_000 });
  const copyId = decodeURIComponent(page.url().split("#/dashboards/")[1].split("?")[0]);
  const copy = await apiOk("GET", `/dashboards/${encodeURIComponent(copyId)}`);
  same(copy.app, null, "copy's app");
  same(copy.title, `Copy of ${monitoring.title}`, "copy's title");
  await waitSettled(0);
  await page.click("[data-testid=delete-dashboard]");
  await page.click(".modal-confirm [data-action=confirm]");
  await page.waitForFunction(() => location.hash.startsWith("#/dashboards") && !location.hash.includes("/dashboards/"), null, { timeout: 30_000 });
  same((await api("GET", `/dashboards/${encodeURIComponent(copyId)}`)).status, 404, "deleted copy");
});

let keptCopy = null;
let appLatest = null;
await step("the Apps page upgrades to the latest version, keeping the edited dashboard as a copy", async () => {
  const [before] = (await apiOk("GET", "/apps")).filter((a) => a.id === APP);
  appLatest = before?.latest ?? null;
  assert(before?.installed, "the app is not installed");
  assert(before.versions.length >= 2, `only ${before.versions.length} version(s) to upgrade between`);
  assert(before.installed.version !== before.latest, `installed ${before.installed.version} is already the latest`);
  await goto("#/apps");
  const card = page.locator(`[data-app-id="${APP}"]`);
  await card.locator("[data-testid=upgrade]").waitFor();
  await card.locator("[data-testid=upgrade-version]").selectOption(before.latest);
  await card.locator("[data-testid=upgrade]").click();
  await page.locator("[data-testid=app-outcome]").waitFor({ timeout: 60_000 });
  const upgraded = (await apiOk("GET", "/apps")).find((a) => a.id === APP);
  same(upgraded.installed.version, before.latest, "installed version after upgrade");
  same(await card.locator("[data-testid=app-installed-version]").textContent(), `Installed ${before.latest}`, "shown version");
  const list = await apiOk("GET", "/dashboards");
  const copies = list.filter((d) => d.app === null && d.title.includes("edited"));
  assert(copies.length >= 1, `no kept copy of the edited dashboard: ${JSON.stringify(list.map((d) => d.title))}`);
  const linked = await page.$$eval("[data-testid=app-outcome] a[data-dashboard-id]", (links) => links.map((a) => ({ id: a.dataset.dashboardId, text: a.textContent })));
  assert(copies.some((c) => linked.some((l) => l.id === c.id && l.text === c.title)), `the outcome does not link the kept copy: ${JSON.stringify(linked)}`);
  const kept = await apiOk("GET", `/dashboards/${encodeURIComponent(copies[0].id)}`);
  assert(kept.panels.some((p) => p.title === editedTitle), "the kept copy lost the edit");
  keptCopy = copies[0].id;
});

await step("the upgraded dashboards are listed", async () => {
  await loadAppDashboards();
  same(overview.app.version, appLatest, "overview version after upgrade");
});
await checkBothDashboards("latest version", true);

await step("the Apps page uninstalls (keeping the user's copy) and installs again", async () => {
  await goto("#/apps");
  const card = page.locator(`[data-app-id="${APP}"]`);
  await card.locator("[data-testid=uninstall]").waitFor();
  await card.locator("[data-testid=uninstall]").click();
  await page.click(".modal-confirm [data-action=confirm]");
  await card.locator("[data-testid=install]").waitFor({ timeout: 60_000 });
  same((await apiOk("GET", "/apps")).find((a) => a.id === APP).installed, null, "installed after uninstall");
  const remaining = await apiOk("GET", "/dashboards");
  assert(remaining.every((d) => d.app === null), "app dashboards remain after uninstall");
  assert(remaining.some((d) => d.id === keptCopy), "the user's copy was removed by uninstall");

  await card.locator("[data-testid=install-source-category]").fill(sourceCategory);
  await card.locator("[data-testid=install]").click();
  await card.locator("[data-testid=app-installed-version]").waitFor({ timeout: 60_000 });
  const installed = (await apiOk("GET", "/apps")).find((a) => a.id === APP).installed;
  same(installed.source_category, sourceCategory, "installed source category");
  const again = await apiOk("GET", "/dashboards");
  assert(again.filter((d) => d.app?.id === APP).length >= 2, "install brought back no dashboards");
});

await step("the Collectors page says how to start collecting when the server runs none", async () => {
  same((await apiOk("GET", "/collectors")).collectors, [], "collectors of a server without --collect");
  await page.click("[data-nav=collectors]");
  await page.locator("[data-page=collectors] .empty-state").waitFor({ timeout: 30_000 });
  const text = await page.locator("[data-page=collectors] .empty-state").innerText();
  assert(text.includes("--collect"), `the empty Collectors page does not say how to start: ${text}`);
});

await step("no console errors, CSP violations or dialogs during the run", async () => {
  const violations = await page.evaluate(() => window.__csp ?? []);
  same(violations, [], "CSP violations");
  same(consoleProblems, [], "console errors");
  same(dialogs, [], "dialogs");
});

await browser.close();
console.log(`browser: ${passed} passed, ${failed} failed`);
if (failed > 0) console.log(`failed: ${failures.join("; ")}`);
process.exit(failed > 0 ? 1 : 0);
