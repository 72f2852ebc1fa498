// The picture of an identity (GET /identities/{id}/explain): its contacts as
// circles on a ring, the primary first and double-ringed, and the spanning
// tree of its links as labelled lines. Every contact is one element with
// data-contact-id (the primary's also data-primary), every line one element
// with data-edge.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function short(s, n = 26) {
  s = String(s ?? '');
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

function edgeLabel(edge) {
  if (edge.via === 'bridge') {
    const v = edge.value || {};
    return `bridge: ${v.email ?? ''} + ${v.phoneNumber ?? ''}`;
  }
  return `${edge.via === 'phoneNumber' ? 'phone' : 'email'}: ${edge.value}`;
}

export function drawIdentity(explain) {
  const contacts = [...explain.contacts];
  const primary = explain.primaryContactId;
  contacts.sort((a, b) => (b.id === primary) - (a.id === primary) || a.id - b.id);
  const n = contacts.length;
  const radius = n <= 1 ? 0 : Math.max(110, n * 22);
  const margin = 110;
  const size = 2 * (radius + margin);
  const c = size / 2;
  const pos = new Map();
  contacts.forEach((ct, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
    pos.set(ct.id, { x: c + radius * Math.cos(a), y: c + radius * Math.sin(a) });
  });

  const svg = el('svg', { viewBox: `0 0 ${size} ${size}`, role: 'img',
    'aria-label': `Identity ${primary}: ${n} contacts, ${explain.edges.length} links` });
  svg.append(el('title', {}, `Identity ${primary}`));
  const lines = el('g', { class: 'edges' });
  const labels = el('g', { class: 'edge-labels' });
  for (const edge of explain.edges) {
    const a = pos.get(edge.from), b = pos.get(edge.to);
    if (!a || !b) continue;
    const text = edgeLabel(edge);
    const line = el('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, 'data-edge': '',
      'data-from': edge.from, 'data-to': edge.to, 'data-via': edge.via });
    line.append(el('title', {}, `${edge.from} – ${edge.to} ${text}`));
    lines.append(line);
    labels.append(el('text', { class: 'edge-label', x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4 },
      short(text, 34)));
  }
  const nodes = el('g', { class: 'nodes' });
  for (const ct of contacts) {
    const p = pos.get(ct.id);
    const isPrimary = ct.id === primary;
    const g = el('g', { class: 'node', 'data-contact-id': ct.id,
      transform: `translate(${p.x} ${p.y})` });
    if (isPrimary) {
      g.setAttribute('data-primary', '');
      g.append(el('circle', { class: 'ring', r: 22 }));
    }
    g.append(el('title', {}, `contact ${ct.id} (${ct.linkPrecedence})\n${ct.email ?? ''}\n${ct.phoneNumber ?? ''}\ncreated ${ct.createdAt}`));
    g.append(el('circle', { r: 17 }));
    g.append(el('text', { class: 'id', y: 4 }, String(ct.id)));
    let y = 34;
    if (isPrimary) { g.append(el('text', { y }, 'primary')); y += 13; }
    if (ct.email) { g.append(el('text', { y }, short(ct.email))); y += 13; }
    if (ct.phoneNumber) g.append(el('text', { y }, short(ct.phoneNumber)));
    nodes.append(g);
  }
  svg.append(lines, labels, nodes);
  return svg;
}
