// The one API client of the dashboard. Errors throw ApiError carrying the
// hub's problem-details `code` (hub/errors.py), or "network_down" /
// "unauthorized"; the text shown to people comes from i18n's errorText(err).
export class ApiError extends Error {
  constructor(status, code, detail, body) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail || `HTTP ${status}`;
    this.body = body;
  }
}

const listeners = { unauthorized: new Set() };

/** Called (once per failing request) when the session is gone: the shell shows the sign-in form. */
export function onUnauthorized(fn) { listeners.unauthorized.add(fn); }

function failure(status, data, url) {
  const body = data && typeof data === "object" ? data : null;
  let detail = body ? (body.detail || body.title) : (typeof data === "string" ? data : "");
  if (Array.isArray(detail)) detail = detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  const code = (body && body.code) || (status === 401 ? "unauthorized" : `http_${status}`);
  if (status === 401 && !/\/auth\/(login|me|password)$/.test(url)) for (const fn of listeners.unauthorized) fn();
  return new ApiError(status, code, typeof detail === "string" ? detail : JSON.stringify(detail), body ?? data);
}

async function send(method, url, init) {
  let res;
  try {
    res = await fetch(url, { method, credentials: "same-origin", ...init });
  } catch (err) {
    throw new ApiError(0, "network_down", String((err && err.message) || err), null);
  }
  return res;
}

async function request(method, url, body, isForm = false) {
  const init = { headers: {} };
  if (body !== undefined) {
    if (isForm) init.body = body;
    else { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  }
  const res = await send(method, url, init);
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) throw failure(res.status, data, url);
  return data;
}

/** Save a file the hub sends (export, report); errors throw ApiError like every other call. */
async function download(url, fallbackName = "download") {
  const res = await send("GET", url, {});
  if (!res.ok) throw failure(res.status, await res.json().catch(() => null), url);
  const blob = await res.blob();
  const cd = res.headers.get("content-disposition") || "";
  const m = /filename\*=UTF-8''([^;]+)/.exec(cd) || /filename="?([^";]+)"?/.exec(cd);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = m ? decodeURIComponent(m[1]) : fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** "?a=1&b=2" from an object, skipping empty values; arrays repeat the key. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x)); else p.append(k, v);
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

export const api = {
  get: (url) => request("GET", url),
  post: (url, body) => request("POST", url, body ?? {}),
  put: (url, body) => request("PUT", url, body ?? {}),
  patch: (url, body) => request("PATCH", url, body ?? {}),
  del: (url, body) => request("DELETE", url, body),
  form: (url, formData) => request("POST", url, formData, true),
  download,
};
