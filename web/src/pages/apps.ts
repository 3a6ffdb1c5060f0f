// Apps: the bundled Microsoft Exchange Trace Logs app with its versions; install for a
// source category, upgrade (the user's edited dashboards are kept as copies), uninstall.

import { api, type App, type UpgradeResult } from "../api";
import { button, confirmAction, h, icon, replace, toast } from "../dom";
import { href } from "../router";

function versionSelect(app: App, testid: string, selected: string): HTMLSelectElement {
  const select = h("select", { class: "select", "data-testid": testid, "aria-label": "Version" });
  for (const version of [...app.versions].reverse()) {
    select.appendChild(h("option", { value: version }, version === app.latest ? `${version} (latest)` : version));
  }
  select.value = selected;
  return select;
}

export function renderApps(page: HTMLElement): () => void {
  let disposed = false;
  const list = h("div", { class: "app-list" }, h("div", { class: "loading-page" }, h("div", { class: "spinner" }), "Loading apps…"));
  replace(
    page,
    h("header", { class: "page-header" }, h("div", { class: "page-heading" }, h("h1", { class: "page-title" }, "Apps"), h("p", { class: "page-description" }, "Versioned bundles of dashboards, bound to the source category your message trace arrives in."))),
    list,
  );

  const load = async (outcome?: { appId: string; node: HTMLElement }) => {
    try {
      const [apps, dashboards] = await Promise.all([api.apps(), api.dashboards().catch(() => [])]);
      if (disposed) return;
      for (const dashboard of dashboards) titles.set(dashboard.id, dashboard.title);
      if (apps.length === 0) {
        replace(list, h("div", { class: "empty-state" }, h("h2", null, "No apps are bundled with this server")));
        return;
      }
      replace(list, apps.map((app) => appCard(app, outcome && outcome.appId === app.id ? outcome.node : null)));
    } catch (error) {
      if (disposed) return;
      replace(list, h("div", { class: "empty-state" }, icon("warning", "empty-icon"), h("h2", null, "Apps could not be loaded"), h("p", { class: "muted" }, error instanceof Error ? error.message : String(error))));
    }
  };

  const outcomeBox = (title: string, lines: (HTMLElement | string)[]) =>
    h("div", { class: "app-outcome", role: "status", "data-testid": "app-outcome" }, h("strong", null, title), ...lines);

  const titles = new Map<string, string>();
  const refreshTitles = async () => {
    for (const dashboard of await api.dashboards().catch(() => [])) titles.set(dashboard.id, dashboard.title);
  };
  const dashboardLinks = (ids: string[]) =>
    h(
      "ul",
      { class: "link-list" },
      ids.map((id) =>
        h("li", null, h("a", { href: href(["dashboards", id]), "data-dashboard-id": id, title: id }, titles.get(id) ?? id)),
      ),
    );

  function appCard(app: App, outcome: HTMLElement | null): HTMLElement {
    const installed = app.installed;
    const status = installed
      ? h("span", { class: "badge badge-ok", "data-testid": "app-installed-version" }, `Installed ${installed.version}`)
      : h("span", { class: "badge" }, "Not installed");
    const body = h("div", { class: "app-actions" });
    if (!installed) {
      const category = h("input", { class: "input", value: "o365/messagetrace", "data-testid": "install-source-category", "aria-label": "Source category", required: true });
      const version = versionSelect(app, "install-version", app.latest);
      const install = button(
        "Install",
        async () => {
          if (category.value.trim() === "") {
            category.reportValidity();
            return;
          }
          install.disabled = true;
          try {
            const answer = await api.install(app.id, category.value.trim(), version.value);
            await refreshTitles();
            toast(`Installed ${app.name} ${answer.installed?.version ?? version.value}`, "success");
            await load({
              appId: app.id,
              node: outcomeBox(`Installed ${answer.installed?.version ?? version.value} for ${category.value.trim()}`, [dashboardLinks(answer.installed?.dashboards ?? [])]),
            });
          } catch (error) {
            toast(error instanceof Error ? error.message : String(error), "error");
            install.disabled = false;
          }
        },
        { kind: "primary", testid: "install" },
      );
      body.append(
        h("label", { class: "field" }, h("span", { class: "field-label" }, "Source category"), category),
        h("label", { class: "field" }, h("span", { class: "field-label" }, "Version"), version),
        install,
      );
    } else {
      const newer = app.versions.filter((v) => v !== installed.version);
      const version = versionSelect(app, "upgrade-version", app.latest);
      const upgrade = button(
        installed.version === app.latest ? "Reinstall" : "Upgrade",
        async () => {
          upgrade.disabled = true;
          try {
            const answer: UpgradeResult = await api.upgrade(app.id, version.value);
            await refreshTitles();
            toast(`${app.name} is now at ${answer.app.installed?.version ?? version.value}`, "success");
            const lines: (HTMLElement | string)[] = [];
            lines.push(h("p", null, `${answer.replaced.length} dashboard${answer.replaced.length === 1 ? "" : "s"} replaced in place.`));
            if (answer.replaced.length > 0) lines.push(dashboardLinks(answer.replaced));
            if (answer.kept_copies.length > 0) {
              lines.push(h("p", null, `${answer.kept_copies.length} edited dashboard${answer.kept_copies.length === 1 ? " was" : "s were"} kept as your own copy:`));
              lines.push(dashboardLinks(answer.kept_copies));
            } else lines.push(h("p", { class: "muted" }, "No edited dashboards needed a copy."));
            if (answer.added && answer.added.length > 0) {
              lines.push(h("p", null, `${answer.added.length} dashboard${answer.added.length === 1 ? "" : "s"} added:`), dashboardLinks(answer.added));
            }
            if (answer.removed && answer.removed.length > 0) {
              lines.push(h("p", null, `${answer.removed.length} dashboard${answer.removed.length === 1 ? "" : "s"} no longer in this version removed.`));
            }
            await load({ appId: app.id, node: outcomeBox(`Upgraded to ${answer.app.installed?.version ?? version.value}`, lines) });
          } catch (error) {
            toast(error instanceof Error ? error.message : String(error), "error");
            upgrade.disabled = false;
          }
        },
        { kind: "primary", testid: "upgrade" },
      );
      const uninstall = button(
        "Uninstall",
        async () => {
          const ok = await confirmAction(
            `Uninstall ${app.name}`,
            "Its dashboards you did not edit are removed; dashboards you edited are kept as your own.",
            "Uninstall",
          );
          if (!ok) return;
          try {
            await api.uninstall(app.id);
            toast(`Uninstalled ${app.name}`, "success");
            await load({ appId: app.id, node: outcomeBox("Uninstalled", [h("p", null, "Edited dashboards, if any, are listed under Your dashboards.")]) });
          } catch (error) {
            toast(error instanceof Error ? error.message : String(error), "error");
          }
        },
        { kind: "danger", testid: "uninstall" },
      );
      body.append(
        h(
          "dl",
          { class: "app-facts" },
          h("dt", null, "Source category"),
          h("dd", { class: "mono" }, installed.source_category),
          h("dt", null, "Installed"),
          h("dd", null, new Date(installed.installed_at).toLocaleString()),
          h("dt", null, "Dashboards"),
          h("dd", null, dashboardLinks(installed.dashboards)),
        ),
        h(
          "div",
          { class: "app-buttons" },
          newer.length > 0 || installed.version !== app.latest ? h("label", { class: "field" }, h("span", { class: "field-label" }, "Version"), version) : null,
          newer.length > 0 ? upgrade : null,
          uninstall,
        ),
      );
    }
    return h(
      "article",
      { class: "card app-card", "data-app-id": app.id, "data-testid": "app-card" },
      h(
        "header",
        { class: "app-header" },
        h("div", { class: "app-logo" }, icon("mail")),
        h(
          "div",
          null,
          h("h2", null, app.name),
          app.description ? h("p", { class: "muted" }, app.description) : null,
          h("div", { class: "app-versions muted" }, `Versions: ${app.versions.join(", ")}`),
        ),
        status,
      ),
      body,
      outcome,
    );
  }

  void load();
  return () => {
    disposed = true;
  };
}
