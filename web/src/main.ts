// The web app's shell: navigation, routing and the page being shown.

import "./styles/base.css";
import "./styles/layout.css";
import "./styles/components.css";
import "./styles/dashboard.css";
import "./styles/search.css";

import { api } from "./api";
import { h, icon, replace } from "./dom";
import { currentRoute, href } from "./router";
import { renderDashboardList } from "./pages/dashboards";
import { renderDashboard } from "./pages/dashboard";
import { renderSearch } from "./pages/search";
import { renderApps } from "./pages/apps";
import { renderMessage } from "./pages/message";
import { renderCollectors } from "./pages/collectors";

type Cleanup = () => void;

const root = document.getElementById("app")!;
const navLinks = new Map<string, HTMLAnchorElement>();

function navItem(key: string, label: string, iconName: string, target: string): HTMLLIElement {
  const link = h("a", { href: target, class: "nav-link", "data-nav": key }, icon(iconName), h("span", null, label));
  navLinks.set(key, link);
  return h("li", null, link);
}

const statusLine = h("div", { class: "nav-status", "data-testid": "store-status" });
const main = h("main", { class: "main", id: "main" });
const shell = h(
  "div",
  { class: "shell" },
  h(
    "nav",
    { class: "sidebar", "aria-label": "Main" },
    h("a", { class: "brand", href: "#/dashboards" }, icon("mail", "brand-mark"), h("span", null, "mailscope")),
    h(
      "ul",
      { class: "nav-list" },
      navItem("dashboards", "Dashboards", "dashboard", href(["dashboards"])),
      navItem("search", "Search", "search", href(["search"])),
      navItem("apps", "Apps", "apps", href(["apps"])),
      navItem("collectors", "Collectors", "download", href(["collectors"])),
    ),
    statusLine,
  ),
  main,
);
replace(root, shell);

let cleanup: Cleanup | null = null;

function render(): void {
  cleanup?.();
  cleanup = null;
  const route = currentRoute();
  const [section = "dashboards", id] = route.path;
  for (const [key, link] of navLinks) link.classList.toggle("active", key === section);
  const page = h("div", { class: "page", "data-page": section });
  replace(main, page);
  window.scrollTo(0, 0);
  if (section === "dashboards" && id) cleanup = renderDashboard(page, id, route.params);
  else if (section === "search") cleanup = renderSearch(page, route.params);
  else if (section === "message") cleanup = renderMessage(page, route.params);
  else if (section === "apps") cleanup = renderApps(page);
  else if (section === "collectors") cleanup = renderCollectors(page);
  else cleanup = renderDashboardList(page);
}

window.addEventListener("hashchange", render);
render();

async function refreshStatus(): Promise<void> {
  try {
    const health = await api.health();
    const geo = health.geo;
    const geoText = geo
      ? `Geo: ${geo.schema === "maxmind" ? "MaxMind" : "DB-IP Lite"}${geo.build_date ? ` · built ${geo.build_date.slice(0, 10)}` : ""}`
      : "Geo: no database";
    const feeds = health.threat?.feeds?.feeds ?? [];
    const failing = feeds.filter((f) => f.last_error).length;
    const threatText = health.threat
      ? `Threat intel: ${feeds.length} feeds · ${(health.threat.index?.indicators ?? 0).toLocaleString("en-US")} indicators${failing ? ` · ${failing} failing` : ""}`
      : "Threat intel: no feeds configured";
    replace(
      statusLine,
      h(
        "div",
        { class: "nav-status-row" },
        h("span", { class: "dot dot-ok" }),
        h("span", null, `${(health.rows ?? 0).toLocaleString("en-US")} records`),
      ),
      h("div", { class: "nav-status-detail", "data-testid": "geo-status" }, geoText),
      h("div", { class: "nav-status-detail", "data-testid": "threat-status" }, threatText),
    );
  } catch {
    replace(
      statusLine,
      h("div", { class: "nav-status-row" }, h("span", { class: "dot dot-error" }), h("span", null, "server unreachable")),
    );
  }
}
void refreshStatus();
window.setInterval(() => void refreshStatus(), 60_000);
