// REST calls to the gateway. The session is an HttpOnly cookie; state-changing requests carry the
// session's CSRF token in X-CSRF-Token (returned by /api/login and /api/me).

let csrfToken = "";
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, message, body, retryAfter) {
    super(message);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

export function setCsrfToken(token) {
  csrfToken = token || "";
}

/** Called (once per failing request) when an authenticated request answers 401. */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

function errorMessage(status, body) {
  if (body && typeof body === "object") {
    const detail = body.detail ?? body.error ?? body.message;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail) && detail.length && detail[0].msg) return detail.map((item) => item.msg).join("; ");
  }
  return `HTTP ${status}`;
}

export async function request(method, path, { body, query, anonymous = false } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "" && value !== false) params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const type = response.headers.get("Content-Type") || "";
  const payload = type.includes("application/json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    if (response.status === 401 && !anonymous) onUnauthorized();
    const retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw new ApiError(response.status, errorMessage(response.status, payload), payload, retryAfter);
  }
  return payload;
}

export const api = {
  login: (username, password) => request("POST", "/api/login", { body: { username, password }, anonymous: true }),
  logout: () => request("POST", "/api/logout", { anonymous: true }),
  me: () => request("GET", "/api/me", { anonymous: true }),
  health: () => request("GET", "/api/health", { anonymous: true }),
  liveCalls: () => request("GET", "/api/calls/live"),
  journal: (query) => request("GET", "/api/journal", { query }),
  dial: (to, fromExtension) =>
    request("POST", "/api/dial", { body: fromExtension ? { to, from_extension: fromExtension } : { to } }),
  dialResult: (id) => request("GET", `/api/dial/${encodeURIComponent(id)}`),
  queues: () => request("GET", "/api/queues"),
};

export function recordingUrl(callId) {
  return `/api/recordings/${encodeURIComponent(callId)}`;
}

export function journalCsvUrl(query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "" && value !== false && key !== "limit" && key !== "offset") {
      params.set(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `/api/journal.csv?${text}` : "/api/journal.csv";
}
