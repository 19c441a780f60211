// The Hubble UI page: a service map (one box per workload, one arrow per talking pair, red when any flow
// between them was dropped) and a flow table, both drawn from /api/flows, refreshed every 3 s; relay and
// node state from /api/status. Plain DOM + SVG, no build step; relative URLs (works under a base path).
export const UI_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hubble UI</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 13px system-ui, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
  header { background: #1d2330; color: #fff; padding: 8px 16px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 16px; margin: 0; }
  #status { opacity: .9 }
  main { padding: 12px 16px; }
  section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; margin-bottom: 12px; padding: 8px; }
  h2 { font-size: 14px; margin: 4px 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eef0f3; white-space: nowrap; }
  .FORWARDED { color: #1a7f37; } .DROPPED { color: #cf222e; font-weight: 600; }
  .error { color: #cf222e; }
  svg text { font-size: 11px; }
</style>
</head>
<body>
<header><h1>Hubble</h1><span id="status">loading…</span>
  <label>namespace <select id="ns"><option value="">all</option></select></label></header>
<main>
  <section><h2>Service map</h2><svg id="map" width="100%" height="420" viewBox="0 0 1000 420"></svg></section>
  <section><h2>Flows <span id="count"></span></h2>
    <table><thead><tr><th>time</th><th>node</th><th>source</th><th>destination</th><th>port</th><th>verdict</th><th>type</th></tr></thead>
    <tbody id="flows"></tbody></table></section>
</main>
<script>
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const namespaces = new Set();
async function getJson(url) {
  const r = await fetch(url, { cache: 'no-store' });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.message || r.statusText) + (body.hint ? ' (' + body.hint + ')' : ''));
  return body;
}
function drawMap(flows) {
  const names = new Map();
  const edges = new Map();
  for (const f of flows) {
    for (const e of [f.source, f.destination]) names.set(e.name, e);
    const k = f.source.name + '\\u0000' + f.destination.name;
    const e = edges.get(k) || { from: f.source.name, to: f.destination.name, n: 0, dropped: 0, ports: new Set() };
    e.n++; if (f.verdict === 'DROPPED') e.dropped++;
    if (f.destinationPort && !f.isReply) e.ports.add(f.protocol + '/' + f.destinationPort);
    edges.set(k, e);
  }
  const list = [...names.keys()].sort();
  const pos = new Map();
  const cx = 500, cy = 210, r = list.length > 1 ? 170 : 0;
  list.forEach((n, i) => { const a = (2 * Math.PI * i) / Math.max(list.length, 1) - Math.PI / 2; pos.set(n, [cx + r * Math.cos(a), cy + r * Math.sin(a)]); });
  let svg = '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0L10,5L0,10z" fill="#667"/></marker></defs>';
  for (const e of edges.values()) {
    if (e.from === e.to) continue;
    const [x1, y1] = pos.get(e.from), [x2, y2] = pos.get(e.to);
    const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy) || 1, sx = x1 + (dx / len) * 30, sy = y1 + (dy / len) * 18, ex = x2 - (dx / len) * 30, ey = y2 - (dy / len) * 18;
    const color = e.dropped > 0 ? '#cf222e' : '#1a7f37';
    svg += '<line x1="' + sx + '" y1="' + sy + '" x2="' + ex + '" y2="' + ey + '" stroke="' + color + '" stroke-width="1.5" marker-end="url(#arr)"><title>' + esc(e.from + ' → ' + e.to + ': ' + e.n + ' flows, ' + e.dropped + ' dropped') + '</title></line>';
    if (e.ports.size > 0) svg += '<text x="' + (sx + ex) / 2 + '" y="' + ((sy + ey) / 2 - 4) + '" fill="#445" text-anchor="middle">' + esc([...e.ports].slice(0, 3).join(' ')) + '</text>';
  }
  for (const n of list) {
    const [x, y] = pos.get(n);
    const ep = names.get(n);
    svg += '<g><rect x="' + (x - 70) + '" y="' + (y - 16) + '" width="140" height="32" rx="5" fill="#eef3ff" stroke="#5b7bd5"/><text x="' + x + '" y="' + (y - 2) + '" text-anchor="middle">' + esc(n.length > 24 ? n.slice(0, 23) + '…' : n) + '</text><text x="' + x + '" y="' + (y + 11) + '" text-anchor="middle" fill="#667">' + esc(ep.ip) + '</text><title>' + esc(n + ' ' + ep.ip + ' ' + ep.labels.join(' ')) + '</title></g>';
  }
  if (list.length === 0) svg += '<text x="500" y="210" text-anchor="middle" fill="#667">no flows yet</text>';
  $('map').innerHTML = svg;
}
function drawTable(flows) {
  $('count').textContent = '(' + flows.length + ')';
  $('flows').innerHTML = flows.slice().reverse().map((f) =>
    '<tr><td>' + esc(f.time.replace('T', ' ').replace('Z', '')) + '</td><td>' + esc(f.node) + '</td><td>' + esc(f.source.name) + (f.sourcePort ? ':' + f.sourcePort : '') +
    '</td><td>' + esc(f.destination.name) + (f.destinationPort ? ':' + f.destinationPort : '') + '</td><td>' + esc(f.protocol + (f.tcpFlags ? ' ' + f.tcpFlags : '')) +
    '</td><td class="' + esc(f.verdict) + '">' + esc(f.verdict + (f.dropReason ? ' ' + f.dropReason : '')) + '</td><td>' + esc(f.type + (f.isReply ? ' reply' : '')) + '</td></tr>').join('');
}
async function refresh() {
  const ns = $('ns').value;
  try {
    const s = await getJson('api/status');
    $('status').textContent = 'Relay: ' + s.numConnectedNodes + ' node(s) connected' + (s.numUnavailableNodes ? ', ' + s.numUnavailableNodes + ' unavailable (' + s.unavailableNodes.join(', ') + ')' : '') + ' · flows ' + s.numFlows + '/' + s.maxFlows;
    $('status').className = '';
  } catch (e) { $('status').textContent = 'Relay: ' + e.message; $('status').className = 'error'; }
  try {
    const { flows } = await getJson('api/flows?last=200' + (ns ? '&namespace=' + encodeURIComponent(ns) : ''));
    for (const f of flows) for (const n of [f.source.namespace, f.destination.namespace]) if (n && !namespaces.has(n)) { namespaces.add(n); const o = document.createElement('option'); o.value = o.textContent = n; $('ns').appendChild(o); }
    drawMap(flows); drawTable(flows);
  } catch (e) { $('flows').innerHTML = '<tr><td colspan="7" class="error">' + esc(e.message) + '</td></tr>'; }
}
$('ns').addEventListener('change', refresh);
refresh(); setInterval(refresh, 3000);
</script>
</body>
</html>
`;
