// Shared helpers: the JSON API, HTML building, formatting of bytes and records.

export class ApiError extends Error {
  constructor(status, data) {
    super(data.error || `HTTP ${status}`);
    this.status = status;
    this.data = data;
  }
}

// The console's only data source: its JSON API under /api.
export async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch("/api" + path, init);
  let data;
  try { data = await res.json(); } catch { data = { error: res.statusText }; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// Tagged template: interpolations are escaped unless wrapped in raw().
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    if (Array.isArray(v)) out += v.map((x) => (x && x.__raw !== undefined ? x.__raw : esc(x))).join("");
    else out += v && v.__raw !== undefined ? v.__raw : esc(v);
    out += strings[i + 1];
  });
  return { __raw: out };
}
export const raw = (s) => ({ __raw: s });

export function render(el, fragment) { el.innerHTML = fragment.__raw; }

export const enc = encodeURIComponent;

export function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function num(n) { return n == null ? "–" : Number(n).toLocaleString("en"); }

export function time(ms) {
  if (ms == null || ms < 0) return "–";
  const d = new Date(ms);
  const pad = (x, w = 2) => String(x).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function fromB64(b64) {
  if (b64 == null) return null;
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function hex(buf) {
  const parts = [];
  for (let i = 0; i < buf.length; i += 16) {
    const row = Array.from(buf.subarray(i, i + 16), (b) => b.toString(16).padStart(2, "0"));
    parts.push(`${i.toString(16).padStart(6, "0")}  ${row.join(" ")}`);
  }
  return parts.join("\n");
}

// A key or value as the chosen format shows it: text, json (pretty), hex, or auto
// (JSON if it parses, else text if it is UTF-8, else hex). Returns [shown, format used].
export function show(b64, format, size) {
  const buf = fromB64(b64);
  if (buf == null) return ["null", "null"];
  const cut = size != null && size > buf.length ? `\n… (${num(size)} bytes, first ${num(buf.length)} shown)` : "";
  if (format === "hex") return [hex(buf) + cut, "hex"];
  let text = null;
  try { text = utf8.decode(buf); } catch { text = null; }
  if (format === "text") return [(text ?? new TextDecoder().decode(buf)) + cut, "text"];
  if (text != null && (format === "json" || format === "auto")) {
    try { return [JSON.stringify(JSON.parse(text), null, 2) + cut, "json"]; } catch { /* not JSON */ }
    if (format === "json") return [text + cut, "text (not JSON)"];
  }
  if (text != null) return [text + cut, "text"];
  return [hex(buf) + cut, "hex"];
}

// "name=value" lines to [[name, value]].
export function pairs(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const at = l.indexOf("=");
    return at < 0 ? [l, ""] : [l.slice(0, at).trim(), l.slice(at + 1)];
  });
}

export function errorText(err) {
  if (!(err instanceof ApiError)) return String(err.message || err);
  return err.message;
}

// The leader or coordinator an API error names, as text (with its Kafka address).
export function brokerText(b) {
  if (!b) return "";
  return `broker ${b.id}` + (b.host ? ` (${b.host}:${b.port})` : "");
}
