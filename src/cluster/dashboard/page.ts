/**
 * The web dashboard: one page the API server serves at `/dashboard/` (no data in it, so it needs no
 * authentication). In the browser it asks the API itself, with the bearer token the user gives (a
 * ServiceAccount token from `kubectl create token`, or the server's token), so it can show and do no
 * more than that token may. Lists are the server's Tables, the same columns `kubectl get` prints,
 * refreshed every two seconds; deployments can be scaled, pods deleted and their logs read.
 */
const KINDS = [
  { title: 'Nodes', path: '/api/v1/nodes', namespaced: false },
  { title: 'Deployments', path: '/apis/apps/v1/deployments', namespaced: true, scale: true },
  { title: 'Pods', path: '/api/v1/pods', namespaced: true, logs: true, remove: true },
  { title: 'Services', path: '/api/v1/services', namespaced: true },
  { title: 'Events', path: '/api/v1/events', namespaced: true },
];

export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Gantry dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
  header { background: #1d2330; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0 12px 0 0; }
  header input, header select { font: inherit; padding: 4px 6px; }
  main { padding: 12px 20px; }
  section { background: #fff; border-radius: 6px; margin-bottom: 14px; padding: 8px 14px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  h2 { font-size: 15px; margin: 6px 0; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceef2; white-space: nowrap; }
  th { font-size: 12px; text-transform: uppercase; color: #667; }
  button { font: inherit; padding: 1px 8px; margin-right: 4px; cursor: pointer; }
  #error { color: #b00020; }
  pre { background: #111; color: #e8e8e8; padding: 10px; max-height: 320px; overflow: auto; }
</style>
</head>
<body>
<header>
  <h1>Gantry</h1>
  <label>Token <input id="token" type="password" size="28" placeholder="bearer token"></label>
  <label>Namespace <select id="namespace"><option value="">all</option></select></label>
  <span id="error"></span>
</header>
<main id="main"></main>
<section id="logs" hidden><h2 id="logs-title"></h2><pre id="logs-text"></pre></section>
<script>
const KINDS = ${JSON.stringify(KINDS)};
const tokenInput = document.getElementById('token');
const nsSelect = document.getElementById('namespace');
tokenInput.value = localStorage.getItem('gantry-token') || new URLSearchParams(location.search).get('token') || '';
tokenInput.addEventListener('change', () => { localStorage.setItem('gantry-token', tokenInput.value); refresh(); });
nsSelect.addEventListener('change', refresh);

async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: { Authorization: 'Bearer ' + tokenInput.value, ...(opts.headers || {}) } });
  if (!res.ok) {
    let message = res.status + ' ' + res.statusText;
    try { message = (await res.json()).message || message; } catch {}
    throw new Error(message);
  }
  return res;
}

function scoped(kind) {
  const ns = nsSelect.value;
  if (!kind.namespaced || !ns) return kind.path;
  const parts = kind.path.split('/');
  const resource = parts.pop();
  return parts.join('/') + '/namespaces/' + encodeURIComponent(ns) + '/' + resource;
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '' : String(text);
  return td;
}

function objectPath(kind, meta) {
  const parts = kind.path.split('/');
  const resource = parts.pop();
  return parts.join('/') + (meta.namespace ? '/namespaces/' + encodeURIComponent(meta.namespace) : '') + '/' + resource + '/' + encodeURIComponent(meta.name);
}

async function render(kind) {
  const res = await api(scoped(kind), { headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } });
  const table = await res.json();
  const section = document.createElement('section');
  const h2 = document.createElement('h2');
  h2.textContent = kind.title + ' (' + table.rows.length + ')';
  section.append(h2);
  const cols = table.columnDefinitions.map((c, i) => ({ ...c, i })).filter((c) => c.priority === 0);
  const t = document.createElement('table');
  const head = document.createElement('tr');
  const showNs = kind.namespaced && !nsSelect.value;
  if (showNs) { const th = document.createElement('th'); th.textContent = 'Namespace'; head.append(th); }
  for (const c of cols) { const th = document.createElement('th'); th.textContent = c.name; head.append(th); }
  if (kind.scale || kind.logs || kind.remove) head.append(document.createElement('th'));
  t.append(head);
  for (const row of table.rows) {
    const meta = row.object.metadata;
    const tr = document.createElement('tr');
    if (showNs) tr.append(cell(meta.namespace));
    for (const c of cols) tr.append(cell(row.cells[c.i]));
    const actions = document.createElement('td');
    const button = (label, action) => { const b = document.createElement('button'); b.textContent = label; b.onclick = () => action().then(refresh, show); actions.append(b); };
    if (kind.scale) {
      const scalePath = objectPath(kind, meta) + '/scale';
      const scaleBy = async (d) => {
        const cur = await (await api(scalePath)).json();
        await api(scalePath, { method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { replicas: Math.max(0, cur.spec.replicas + d) } }) });
      };
      button('−', () => scaleBy(-1));
      button('+', () => scaleBy(1));
    }
    if (kind.logs) button('logs', async () => {
      const text = await (await api(objectPath(kind, meta) + '/log?tailLines=200')).text();
      document.getElementById('logs').hidden = false;
      document.getElementById('logs-title').textContent = 'Logs of ' + meta.namespace + '/' + meta.name;
      document.getElementById('logs-text').textContent = text;
    });
    if (kind.remove) button('delete', () => api(objectPath(kind, meta), { method: 'DELETE' }));
    if (kind.scale || kind.logs || kind.remove) tr.append(actions);
    t.append(tr);
  }
  section.append(t);
  return section;
}

function show(err) { document.getElementById('error').textContent = err ? String(err.message || err) : ''; }

async function refresh() {
  if (!tokenInput.value) { show('Enter a token: kubectl create token <serviceaccount>, or the server\\'s token file.'); return; }
  try {
    const namespaces = await (await api('/api/v1/namespaces')).json();
    const chosen = nsSelect.value;
    nsSelect.replaceChildren(new Option('all', ''), ...namespaces.items.map((n) => new Option(n.metadata.name, n.metadata.name)));
    nsSelect.value = chosen;
    const sections = [];
    for (const kind of KINDS) sections.push(await render(kind).catch((err) => { const s = document.createElement('section'); s.textContent = kind.title + ': ' + err.message; return s; }));
    document.getElementById('main').replaceChildren(...sections);
    show('');
  } catch (err) { show(err); }
}

refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
}
