// The console's views (SPEC section 12): Look-up, Customers, Import and
// Changes, each at its own URL under /console/, switched without reloads.
import { api, download } from './api.js?v=@CONSOLE_VERSION@';
import { drawIdentity } from './picture.js?v=@CONSOLE_VERSION@';

const $ = (sel, root = document) => root.querySelector(sel);
const VIEWS = { '': 'lookup', lookup: 'lookup', 'index.html': 'lookup',
  customers: 'customers', import: 'import', changes: 'changes' };
const PAGE_SIZE = 10;

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : String(c ?? ''));
  return e;
}

// ---- messages: every failure is shown, never a blank page

function showMessage(text, kind = 'error') {
  const m = $('#message');
  m.textContent = text;
  m.className = kind;
  m.hidden = false;
}
function clearMessage() { $('#message').hidden = true; }
function fail(e) { showMessage(e && e.message ? e.message : String(e)); }
window.addEventListener('error', (ev) => showMessage(`Console error: ${ev.message}`));
window.addEventListener('unhandledrejection', (ev) => fail(ev.reason));

// ---- routing

let current = null;
const leave = {}; // view -> function called when the view is left

function viewOf(pathname) {
  const name = pathname.replace(/^\/console\/?/, '').replace(/\/$/, '');
  return VIEWS[name] || 'lookup';
}

function go(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

function render() {
  const view = viewOf(location.pathname);
  const params = new URLSearchParams(location.search);
  if (current && current !== view && leave[current]) leave[current]();
  current = view;
  clearMessage();
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== view;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `idlink console: ${$('nav a[aria-current]').textContent}`;
  ({ lookup: showLookup, customers: showCustomers, import: showImport,
     changes: showChanges })[view](params);
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[href^="/console/"]');
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', render);

// ---- look-up

function list(values) {
  return values && values.length ? values.join(', ') : '—';
}

function identityCard(view) {
  const ct = view.contact;
  const orders = view.orders || { count: 0, totals: {}, latest: [] };
  const totals = Object.entries(orders.totals || {}).map(([cur, v]) => `${v} ${cur}`);
  const customers = h('table', { id: 'identity-customers' },
    h('caption', {}, `Customers (${view.customers.length})`),
    h('thead', {}, h('tr', {}, h('th', {}, 'pk'), h('th', {}, 'Channel'), h('th', {}, 'Code'),
      h('th', {}, 'Name'), h('th', {}, 'Email'), h('th', {}, 'Phone'))),
    h('tbody', {}, view.customers.map((c) => h('tr', { 'data-pk': c.pk },
      h('td', {}, c.pk), h('td', {}, c.channel), h('td', {}, c.channel_code),
      h('td', {}, `${c.first_name} ${c.last_name}`.trim()), h('td', {}, c.email),
      h('td', {}, c.phone_number ?? '')))));
  const latest = h('table', { id: 'identity-orders' },
    h('caption', {}, `Latest orders (${orders.latest.length} of ${orders.count})`),
    h('thead', {}, h('tr', {}, h('th', {}, 'Number'), h('th', {}, 'Channel'),
      h('th', {}, 'Amount'), h('th', {}, 'Date'))),
    h('tbody', {}, orders.latest.map((o) => h('tr', { 'data-order': o.pk },
      h('td', {}, o.number), h('td', {}, o.channel), h('td', {}, `${o.amount} ${o.currency}`),
      h('td', {}, o.created_date)))));
  return h('div', { class: 'card', 'data-identity': ct.primaryContactId },
    h('h3', {}, `Identity ${ct.primaryContactId}`),
    h('dl', {},
      h('dt', {}, 'Primary'), h('dd', { 'data-field': 'primary' }, ct.primaryContactId),
      h('dt', {}, 'Emails'), h('dd', { 'data-field': 'emails' }, list(ct.emails)),
      h('dt', {}, 'Phones'), h('dd', { 'data-field': 'phoneNumbers' }, list(ct.phoneNumbers)),
      h('dt', {}, 'Secondaries'), h('dd', { 'data-field': 'secondaries' }, list(ct.secondaryContactIds)),
      h('dt', {}, 'Orders'), h('dd', { 'data-field': 'orders' },
        `${orders.count}${totals.length ? ' — ' + totals.join(', ') : ''}`)),
    customers, latest);
}

async function showIdentity(view) {
  const box = $('#identity');
  $('#identity-card').replaceChildren(identityCard(view));
  $('#identity-picture').replaceChildren(h('p', {}, 'Drawing…'));
  box.hidden = false;
  const explain = await api('GET', `/identities/${view.contact.primaryContactId}/explain`);
  $('#identity-picture').replaceChildren(drawIdentity(explain));
}

let lookupSeq = 0; // the newest look-up; older answers are dropped

async function showLookup(params) {
  const form = $('#lookup-form');
  const q = params.get('q') || '';
  const id = params.get('identity');
  form.elements.q.value = q;
  const mine = ++lookupSeq;
  if (!q && !id) { $('#identity').hidden = true; return; }
  try {
    let url;
    if (id) url = `/api/v1/identities/${encodeURIComponent(id)}/`;
    else url = `/api/v1/identities/?${q.includes('@') ? 'email' : 'phone_number'}=${encodeURIComponent(q.trim())}`;
    const view = await api('GET', url);
    if (mine !== lookupSeq) return;
    await showIdentity(view);
  } catch (e) {
    if (mine !== lookupSeq) return;
    $('#identity').hidden = true;
    if (e.status === 404) showMessage(`No identity holds ${q || 'contact ' + id}.`, 'info');
    else fail(e);
  }
}

$('#lookup-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = ev.target.elements.q.value.trim();
  if (q) go(`/console/?q=${encodeURIComponent(q)}`);
});

// ---- customers

const FILTERS = ['email', 'phone_number', 'channel', 'identity', 'created_date__gte',
  'created_date__lt'];

function filterQuery(params) {
  const q = new URLSearchParams();
  for (const k of FILTERS) if (params.get(k)) q.set(k, params.get(k));
  return q;
}

async function showCustomers(params) {
  const form = $('#customers-filter');
  for (const k of FILTERS) form.elements[k].value = params.get(k) || '';
  const filters = filterQuery(params);
  for (const a of document.querySelectorAll('[data-export]')) {
    const q = new URLSearchParams(filters);
    q.set('format', a.dataset.export);
    a.href = `/api/v1/customers/export/?${q}`;
  }
  const page = Math.max(1, parseInt(params.get('page') || '1', 10) || 1);
  const q = new URLSearchParams(filters);
  q.set('limit', PAGE_SIZE);
  q.set('page', page);
  const tbody = $('#customers-table tbody');
  const prev = $('[data-page="prev"]'), next = $('[data-page="next"]');
  try {
    const data = await api('GET', `/api/v1/customers/?${q}`);
    if (current !== 'customers') return;
    tbody.replaceChildren(...data.results.map((c) => {
      const open = c.identity ? `/console/?identity=${c.identity}` : null;
      return h('tr', { 'data-pk': c.pk, tabindex: 0, 'data-open': open },
        h('td', {}, c.pk),
        h('td', {}, open ? h('a', { href: open }, c.email) : c.email),
        h('td', { class: 'wide' }, `${c.first_name} ${c.last_name}`.trim()),
        h('td', {}, c.channel), h('td', {}, c.identity ?? '—'));
    }));
    const pages = Math.max(1, Math.ceil(data.count / PAGE_SIZE));
    $('#customers-count').textContent =
      `${data.count} customer${data.count === 1 ? '' : 's'} — page ${page} of ${pages}`;
    prev.disabled = !data.previous;
    next.disabled = !data.next;
    prev.dataset.target = page - 1;
    next.dataset.target = page + 1;
  } catch (e) {
    tbody.replaceChildren();
    $('#customers-count').textContent = '';
    prev.disabled = next.disabled = true;
    fail(e);
  }
}

function customersUrl(filters, page) {
  const q = new URLSearchParams(filters);
  if (page > 1) q.set('page', page);
  const s = q.toString();
  return `/console/customers${s ? '?' + s : ''}`;
}

$('#customers-filter').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const k of FILTERS) {
    const v = ev.target.elements[k].value.trim();
    if (v) q.set(k, v);
  }
  go(customersUrl(q, 1));
});
$('#customers-filter').addEventListener('reset', () => setTimeout(() => go('/console/customers'), 0));
for (const b of document.querySelectorAll('[data-page]')) {
  b.addEventListener('click', () => {
    const params = new URLSearchParams(location.search);
    go(customersUrl(filterQuery(params), parseInt(b.dataset.target, 10) || 1));
  });
}
function openRow(tr) {
  if (tr && tr.dataset.open) go(tr.dataset.open);
  else if (tr) showMessage(`Customer ${tr.dataset.pk} belongs to no identity.`, 'info');
}
$('#customers-table tbody').addEventListener('click', (ev) => {
  if (ev.target.closest('a')) return;
  openRow(ev.target.closest('tr'));
});
$('#customers-table tbody').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && ev.target.matches('tr')) openRow(ev.target);
});
for (const a of document.querySelectorAll('[data-export]')) {
  a.addEventListener('click', (ev) => {
    ev.preventDefault();
    download(a.href).catch(fail);
  });
}

// ---- import

function showImport() {
  syncImportKind();
}

function syncImportKind() {
  const customers = $('#import-form').elements.kind.value === 'customers';
  $('#import-channel').hidden = !customers;
  $('#import-form').elements.channel.disabled = !customers;
}
$('#import-form').elements.kind.addEventListener('change', syncImportKind);

$('#import-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const file = form.elements.file.files[0];
  if (!file) { showMessage('Choose a file to import.'); return; }
  const kind = form.elements.kind.value;
  const body = new FormData();
  body.append('file', file, file.name);
  if (kind === 'customers' && form.elements.channel.value)
    body.append('channel', form.elements.channel.value);
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  clearMessage();
  $('#import-result').hidden = true;
  try {
    const r = await api('POST', `/api/v1/${kind}/import/`, body);
    $('#import-summary').textContent =
      `${file.name}: ${r.created} created, ${r.updated} updated, ${r.skipped.length} skipped.`;
    $('#skipped-table tbody').replaceChildren(...r.skipped.map((s) =>
      h('tr', { 'data-row': s.row }, h('td', {}, s.row), h('td', {}, s.reason))));
    $('#skipped-table').hidden = r.skipped.length === 0;
    $('#import-result').hidden = false;
  } catch (e) {
    fail(e);
  } finally {
    button.disabled = false;
  }
});

// ---- changes

const FEED_MAX = 500;
const POLL_MS = 1000;
let feed = { after: null, timer: null, running: false };

function describe(entry) {
  const rest = Object.fromEntries(Object.entries(entry)
    .filter(([k]) => !['seq', 'at', 'kind'].includes(k)));
  return h('li', { 'data-seq': entry.seq, 'data-kind': entry.kind },
    h('time', { datetime: entry.at }, entry.at), ' ', h('strong', {}, entry.kind), ' ',
    h('code', {}, JSON.stringify(rest)));
}

async function poll() {
  const mine = feed;
  try {
    if (mine.after === null) {
      const head = await api('GET', '/changes?limit=1');
      mine.after = Math.max(0, head.last_seq - 20);
    }
    for (;;) {
      const data = await api('GET', `/changes?after=${mine.after}&limit=100`);
      if (mine !== feed) return;
      const list = $('#change-feed');
      for (const entry of data.results) {
        list.prepend(describe(entry));
        mine.after = entry.seq;
      }
      while (list.children.length > FEED_MAX) list.lastElementChild.remove();
      $('#changes-status').textContent = `Up to change ${mine.after}; watching for more.`;
      if (data.results.length < 100) break;
    }
  } catch (e) {
    if (mine === feed) fail(e);
  }
  if (mine === feed) mine.timer = setTimeout(poll, POLL_MS);
}

function showChanges() {
  if (feed.timer !== null || feed.running) return;
  feed = { after: null, timer: null, running: true };
  $('#change-feed').replaceChildren();
  poll();
}
leave.changes = () => {
  clearTimeout(feed.timer);
  feed = { after: null, timer: null, running: false };
};

render();
