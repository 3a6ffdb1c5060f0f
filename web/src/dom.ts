// Small DOM helpers. Every piece of data reaches the page through textContent or an
// attribute: never through innerHTML, because subjects, addresses and names come from
// whoever sent the mail.

export type Child = Node | string | number | null | undefined | false;
export type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        element.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key === "class") {
        element.className = String(value);
      } else if (value === true) {
        element.setAttribute(key, "");
      } else {
        element.setAttribute(key, String(value));
      }
    }
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

export function clear(element: Element): void {
  while (element.firstChild) element.removeChild(element.firstChild);
}

export function replace(element: Element, ...children: (Child | Child[])[]): void {
  clear(element);
  append(element, children);
}

/** A small inline icon drawn from a fixed set of path data (no data strings inside). */
const ICONS: Record<string, string> = {
  dashboard: "M3 3h8v10H3zM13 3h8v6h-8zM13 11h8v10h-8zM3 15h8v6H3z",
  search: "M10 2a8 8 0 015.3 14l5.4 5.3-1.4 1.4-5.3-5.4A8 8 0 1110 2zm0 2a6 6 0 100 12 6 6 0 000-12z",
  apps: "M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h6v6h-6z",
  refresh: "M17.65 6.35A7.96 7.96 0 0012 4a8 8 0 108 8h-2a6 6 0 11-1.76-4.24L13 11h7V4z",
  edit: "M3 17.2V21h3.8l11-11-3.8-3.8zM20.7 7a1 1 0 000-1.4l-2.3-2.3a1 1 0 00-1.4 0l-1.8 1.8 3.7 3.7z",
  copy: "M16 1H4a2 2 0 00-2 2v14h2V3h12zm3 4H8a2 2 0 00-2 2v14a2 2 0 002 2h11a2 2 0 002-2V7a2 2 0 00-2-2zm0 16H8V7h11z",
  trash: "M6 19a2 2 0 002 2h8a2 2 0 002-2V7H6zM19 4h-3.5l-1-1h-5l-1 1H5v2h14z",
  play: "M8 5v14l11-7z",
  warning: "M1 21h22L12 2zm12-3h-2v-2h2zm0-4h-2v-4h2z",
  download: "M5 20h14v-2H5zM19 9h-4V3H9v6H5l7 7z",
  history: "M13 3a9 9 0 00-9 9H1l4 4 4-4H6a7 7 0 112 4.9l-1.4 1.4A9 9 0 1013 3zm-1 5v5l4.3 2.5.7-1.2-3.5-2.1V8z",
  external: "M14 3v2h3.6l-9.8 9.8 1.4 1.4L19 6.4V10h2V3zM19 19H5V5h7V3H5a2 2 0 00-2 2v14a2 2 0 002 2h14a2 2 0 002-2v-7h-2z",
  mail: "M20 4H4a2 2 0 00-2 2v12a2 2 0 002 2h16a2 2 0 002-2V6a2 2 0 00-2-2zm0 4l-8 5-8-5V6l8 5 8-5z",
  lock: "M18 8h-1V6A5 5 0 007 6v2H6a2 2 0 00-2 2v10a2 2 0 002 2h12a2 2 0 002-2V10a2 2 0 00-2-2zM9 6a3 3 0 016 0v2H9z",
};

export function icon(name: keyof typeof ICONS | string, className = "icon"): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", className);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name] ?? "");
  svg.appendChild(path);
  return svg;
}

export function button(
  label: Child,
  onClick: (event: MouseEvent) => void,
  options: { kind?: "primary" | "secondary" | "danger" | "ghost"; icon?: string; title?: string; testid?: string; type?: string } = {},
): HTMLButtonElement {
  const element = h(
    "button",
    {
      type: options.type ?? "button",
      class: `btn btn-${options.kind ?? "secondary"}`,
      title: options.title,
      "data-testid": options.testid,
    },
    options.icon ? icon(options.icon) : null,
    label === "" ? null : h("span", null, label),
  );
  element.addEventListener("click", onClick);
  return element;
}

/** A modal built on the native dialog element; resolves with the button pressed. */
export function modal(options: {
  title: string;
  body: (Child | Child[])[];
  actions: { label: string; value: string; kind?: "primary" | "secondary" | "danger" }[];
  className?: string;
  onSubmit?: (value: string) => boolean | Promise<boolean>;
}): Promise<string | null> {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog", class: "modal-form" });
    const dialog = h("dialog", { class: `modal ${options.className ?? ""}` }, form);
    const footer = h("div", { class: "modal-actions" });
    for (const action of options.actions) {
      footer.appendChild(
        h(
          "button",
          {
            type: "submit",
            value: action.value,
            class: `btn btn-${action.kind ?? "secondary"}`,
            "data-action": action.value,
          },
          action.label,
        ),
      );
    }
    append(form, [h("h2", { class: "modal-title" }, options.title), h("div", { class: "modal-body" }, ...options.body), footer]);
    let settled = false;
    form.addEventListener("submit", async (event) => {
      const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
      const value = submitter?.value ?? "";
      if (options.onSubmit && value !== "cancel") {
        event.preventDefault();
        const ok = await options.onSubmit(value);
        if (!ok) return;
        settled = true;
        dialog.close();
        resolve(value);
        return;
      }
      settled = true;
      resolve(value || null);
    });
    dialog.addEventListener("close", () => {
      if (!settled) resolve(null);
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

export function confirmAction(title: string, message: string, confirmLabel: string): Promise<boolean> {
  return modal({
    title,
    body: [h("p", null, message)],
    actions: [
      { label: "Cancel", value: "cancel" },
      { label: confirmLabel, value: "confirm", kind: "danger" },
    ],
    className: "modal-confirm",
  }).then((value) => value === "confirm");
}

let toastArea: HTMLElement | null = null;
export function toast(message: string, kind: "info" | "error" | "success" = "info"): void {
  if (!toastArea) {
    toastArea = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.appendChild(toastArea);
  }
  const item = h("div", { class: `toast toast-${kind}` }, message);
  toastArea.appendChild(item);
  window.setTimeout(() => item.remove(), 5000);
}
