import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, logout, onSessionEnd, session } from './api';
import { BUILT_IN, customKind, GROUPS, kindByKey, type Kind } from './kinds';
import { BASE, href, navigate, onLinkClick, useLocation } from './router';
import { Login } from './pages/Login';
import { Overview } from './pages/Overview';
import { ListPage } from './pages/ListPage';
import { DetailPage } from './pages/DetailPage';
import { EnginePage } from './pages/EnginePage';
import './styles.css';

type User = { username: string; groups: string[] };

function Nav(props: { custom: Kind[]; current: string; onNavigate: () => void }) {
  const groups = { ...BUILT_IN, 'Custom Resources': props.custom };
  return (
    <nav aria-label="Resources" class="nav">
      <a href={href('/')} aria-current={props.current === '/' ? 'page' : undefined} onClick={props.onNavigate}>
        Overview
      </a>
      {GROUPS.map((g) => (
        <section key={g} aria-labelledby={`nav-${g}`}>
          <h2 id={`nav-${g}`}>{g}</h2>
          {groups[g].length === 0 && <p class="muted">None</p>}
          {groups[g].map((k) => (
            <a
              key={k.key}
              href={href(`/${k.key}`)}
              aria-current={props.current.split('/')[1] === k.key ? 'page' : undefined}
              onClick={props.onNavigate}
            >
              {k.title}
            </a>
          ))}
        </section>
      ))}
      <section aria-labelledby="nav-engine">
        <h2 id="nav-engine">Nodes' engines</h2>
        <a
          href={href('/engine')}
          aria-current={props.current === '/engine' ? 'page' : undefined}
          onClick={props.onNavigate}
        >
          Containers and images
        </a>
      </section>
    </nav>
  );
}

function NamespacePicker(props: { value: string }) {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    get<{ items: Array<{ metadata: { name: string } }> }>('/api/v1/namespaces')
      .then((l) => setNames(l.items.map((n) => n.metadata.name)))
      .catch(() => setNames([]));
  }, []);
  return (
    <label class="ns">
      Namespace
      <select
        value={props.value}
        onChange={(e) => {
          const ns = (e.target as HTMLSelectElement).value;
          navigate(`${location.pathname}${ns ? `?namespace=${encodeURIComponent(ns)}` : ''}`);
        }}
      >
        <option value="">All namespaces</option>
        {names.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
}

function App() {
  const { path, query } = useLocation();
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [reason, setReason] = useState('');
  const [custom, setCustom] = useState<Kind[]>([]);
  const [menuOpen, setMenuOpen] = useState(false);

  useEffect(() => {
    void session().then((u) => setUser(u ?? null));
    return onSessionEnd((why) => {
      setReason(why);
      setUser(null);
    });
  }, []);
  useEffect(() => {
    if (!user) return;
    get<{ items: Array<Parameters<typeof customKind>[0]> }>('/apis/apiextensions.k8s.io/v1/customresourcedefinitions')
      .then((l) => setCustom(l.items.map(customKind)))
      .catch(() => setCustom([]));
  }, [user]);

  if (user === undefined) return <p class="loading">Loading…</p>;
  if (user === null || path === '/login')
    return (
      <Login
        reason={reason}
        code={path === '/login' ? (query.get('code') ?? undefined) : undefined}
        onLogin={(u) => {
          setReason('');
          void session().then((s) => setUser(s ?? { username: u, groups: [] }));
          if (path === '/login') navigate(`${BASE}/`, true);
        }}
      />
    );

  const namespace = query.get('namespace') ?? '';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  let page;
  if (parts.length === 0) page = <Overview namespace={namespace} />;
  else if (parts[0] === 'engine') page = <EnginePage />;
  else {
    const kind = kindByKey(parts[0]!, custom);
    if (!kind) page = <p role="alert">No such kind: {parts[0]}</p>;
    else if (parts.length === 1) page = <ListPage key={kind.key} kind={kind} namespace={namespace} />;
    else {
      const [ns, name] = kind.namespaced ? [parts[1], parts[2]] : [undefined, parts[1]];
      page = (
        <DetailPage key={`${kind.key}/${ns}/${name}`} kind={kind} namespace={ns} name={name ?? ''} custom={custom} />
      );
    }
  }
  return (
    <div class="shell" onClick={onLinkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <button class="menu" aria-expanded={menuOpen} aria-controls="sidebar" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <h1>
          <a href={href('/')}>Gantry</a>
        </h1>
        <NamespacePicker value={namespace} />
        <span class="user" title={user.groups.join(', ')}>
          {user.username}
        </span>
        <button
          onClick={() =>
            void logout().then(() => {
              setReason('');
              setUser(null);
            })
          }
        >
          Log out
        </button>
      </header>
      <div class={`sidebar${menuOpen ? ' open' : ''}`} id="sidebar">
        <Nav custom={custom} current={path} onNavigate={() => setMenuOpen(false)} />
      </div>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
