// Talking to idlinkd: every call carries the tab's token (sessionStorage),
// a 401 shows the token prompt and retries once a token is given, and every
// failure becomes an ApiError whose message a person can read.

const TOKEN_KEY = 'idlink.token';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// The text of a DRF-shaped error body: {"detail": ...} or field errors.
export function errorText(body, status) {
  if (body && typeof body === 'object') {
    if (typeof body.detail === 'string') return body.detail;
    const parts = [];
    const walk = (prefix, v) => {
      if (Array.isArray(v)) parts.push(`${prefix}: ${v.join(' ')}`);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
      else parts.push(prefix ? `${prefix}: ${v}` : String(v));
    };
    walk('', body);
    if (parts.length) return parts.join('; ');
  }
  return `The server answered ${status}.`;
}

let pendingToken = null; // the promise of the token prompt, shared by all callers

function askToken(reason) {
  if (pendingToken) return pendingToken;
  const form = document.getElementById('token-form');
  const input = form.elements.token;
  document.getElementById('token-reason').textContent =
    reason === 'Invalid token.' && sessionStorage.getItem(TOKEN_KEY)
      ? 'The token was refused (Invalid token.). Enter another one.'
      : 'This server needs an API token: ' + reason;
  form.hidden = false;
  input.value = '';
  input.focus();
  pendingToken = new Promise((resolve) => {
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      form.hidden = true;
      form.onsubmit = null;
      pendingToken = null;
      resolve();
    };
  });
  return pendingToken;
}

function headers(extra) {
  const h = new Headers(extra || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h.set('Authorization', `Token ${token}`);
  return h;
}

// fetch with the token; on 401 asks for a token and tries again.
export async function send(url, init = {}) {
  for (;;) {
    let resp;
    try {
      resp = await fetch(url, { ...init, headers: headers(init.headers) });
    } catch (e) {
      throw new ApiError(0, `Cannot reach idlinkd (${e.message}).`, null);
    }
    if (resp.status !== 401) return resp;
    let body = null;
    try { body = await resp.json(); } catch (e) { /* not JSON */ }
    await askToken(errorText(body, 401));
  }
}

// A JSON call: resolves to the parsed body of a 2xx answer, else throws ApiError.
export async function api(method, url, body) {
  const init = { method };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'Content-Type': 'application/json' };
  }
  const resp = await send(url, init);
  const text = await resp.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
  if (!resp.ok) throw new ApiError(resp.status, errorText(parsed, resp.status), parsed);
  if (text && parsed === null) throw new ApiError(resp.status, 'The server answered something that is not JSON.', null);
  return parsed;
}

// Downloads url (an export) with the token, as the file the server names.
export async function download(url) {
  const resp = await send(url);
  if (!resp.ok) {
    let body = null;
    try { body = await resp.json(); } catch (e) { /* not JSON */ }
    throw new ApiError(resp.status, errorText(body, resp.status), body);
  }
  const disposition = resp.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(disposition);
  const blob = await resp.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = m ? m[1] : 'export';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
