// Hash routing: `#/dashboards`, `#/dashboards/{id}?…`, `#/search?…`, `#/message?id=…`, `#/apps`,
// `#/collectors`. The query
// part of the hash carries a page's state so that a link reproduces the view.

export interface Route {
  path: string[];
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path = "", query = ""] = hash.split("?", 2);
  return {
    path: path.split("/").filter((s) => s !== "").map((s) => decodeURIComponent(s)),
    params: new URLSearchParams(query),
  };
}

export function href(path: string[], params?: URLSearchParams | Record<string, string>): string {
  const search = params instanceof URLSearchParams ? params : new URLSearchParams(params ?? {});
  const query = search.toString();
  return `#/${path.map(encodeURIComponent).join("/")}${query ? `?${query}` : ""}`;
}

export function navigate(path: string[], params?: URLSearchParams | Record<string, string>): void {
  location.hash = href(path, params);
}

/** Changes the URL without a new page render (state already shown). */
export function replaceParams(path: string[], params: URLSearchParams): void {
  const next = href(path, params);
  if (location.hash !== next) history.replaceState(null, "", next);
}

/** The link to one message's page. */
export function messageHref(id: string): string {
  return href(["message"], { id });
}
