// Calls to Corral's API from the console: session cookie, the CSRF header on state-changing requests,
// and problem+json errors turned into ApiError with the API's own title, detail and field errors.

const CSRF_HEADER = "X-CSRF-Token";
let sessionPromise = null;

export class ApiError extends Error {
  constructor(status, problem) {
    const title = (problem && problem.title) || `HTTP ${status}`;
    const detail = (problem && problem.detail) || "";
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = (problem && Array.isArray(problem.errors)) ? problem.errors : [];
  }
}

export function loginUrl() {
  const here = location.pathname + location.search;
  return `/login?next=${encodeURIComponent(here)}`;
}

/** The signed-in account, its permissions and the session's CSRF token (fetched once per page). */
export function session() {
  if (!sessionPromise) {
    sessionPromise = request("GET", "/auth/me").catch((error) => {
      sessionPromise = null;
      throw error;
    });
  }
  return sessionPromise;
}

function buildUrl(path, query) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    url.searchParams.set(key, String(value));
  }
  return url;
}

export function urlFor(path, query) {
  const url = buildUrl(path, query);
  return url.pathname + url.search;
}

export async function request(method, path, { query, body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD" && path !== "/auth/login") {
    const me = await session();
    if (me.csrf_token) headers[CSRF_HEADER] = me.csrf_token;
  }
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(buildUrl(path, query), init);
  } catch (error) {
    throw new ApiError(0, { title: "Network error", detail: `the server could not be reached (${error.message})` });
  }
  const text = await response.text();
  let parsed = null;
  if (text && (response.headers.get("content-type") || "").includes("json")) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (response.status === 401 && path !== "/auth/login") {
    location.assign(loginUrl());
  }
  if (!response.ok) {
    throw new ApiError(response.status, parsed || { title: `HTTP ${response.status}`, detail: text.slice(0, 300) });
  }
  return parsed;
}

export const api = {
  get: (path, query) => request("GET", path, { query }),
  post: (path, body) => request("POST", path, { body: body === undefined ? {} : body }),
  del: (path, body) => request("DELETE", path, { body }),
};
