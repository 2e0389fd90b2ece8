import { useState } from 'preact/hooks';
import type { KObject } from '../api';
import { apiPath, kindOf, type Kind } from '../kinds';
import { useLiveList, useLiveObject } from '../live';
import { href } from '../router';
import { Actions } from './Actions';
import { EventsTable } from '../components/EventsTable';
import { YamlTab } from './YamlTab';
import { LogsTab } from './LogsTab';
import { TerminalTab } from './TerminalTab';
import { PortsTab } from './PortsTab';
import { MetricsTab } from './MetricsTab';

/** The kinds whose objects another kind owns, as their controllers make them. */
const OWNED: Record<string, Array<{ key: string; group: string; version: string; plural: string; kind: string }>> = {
  Deployment: [{ key: 'replicasets', group: 'apps', version: 'v1', plural: 'replicasets', kind: 'ReplicaSet' }],
  ReplicaSet: [{ key: 'pods', group: '', version: 'v1', plural: 'pods', kind: 'Pod' }],
  StatefulSet: [{ key: 'pods', group: '', version: 'v1', plural: 'pods', kind: 'Pod' }],
  DaemonSet: [{ key: 'pods', group: '', version: 'v1', plural: 'pods', kind: 'Pod' }],
  Job: [{ key: 'pods', group: '', version: 'v1', plural: 'pods', kind: 'Pod' }],
  CronJob: [{ key: 'jobs', group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job' }],
};

type Tab = 'overview' | 'yaml' | 'events' | 'logs' | 'terminal' | 'ports' | 'metrics';

function Owned(props: { obj: KObject; kind: Kind }) {
  const child = OWNED[props.kind.kind]?.[0];
  const ns = props.obj.metadata.namespace;
  const path = child ? apiPath({ ...child, title: '', namespaced: true }, ns) : undefined;
  const live = useLiveList(path);
  if (!child) return null;
  const mine = (live.data?.items ?? []).filter((o) =>
    (o.metadata.ownerReferences ?? []).some((r) => r.uid === props.obj.metadata.uid),
  );
  return (
    <section aria-labelledby="owned-title">
      <h3 id="owned-title">Owned {child.kind}s</h3>
      {mine.length === 0 ? (
        <p class="muted">None</p>
      ) : (
        <ul>
          {mine.map((o) => (
            <li key={o.metadata.uid}>
              <a href={href(`/${child.key}/${ns}/${o.metadata.name}`)}>{o.metadata.name}</a>{' '}
              <span class="muted">{String((o.status as { phase?: string } | undefined)?.phase ?? '')}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

interface ContainerStatus {
  name: string;
  image: string;
  ready: boolean;
  restartCount: number;
  state?: Record<string, { reason?: string; startedAt?: string; exitCode?: number }>;
}

/** A pod's containers as `kubectl describe` lists them: image, state, readiness, restarts. */
function Containers(props: { pod: KObject }) {
  const statuses = (props.pod.status as { containerStatuses?: ContainerStatus[] } | undefined)?.containerStatuses ?? [];
  const specs =
    (props.pod.spec as { containers?: Array<{ name: string; image: string }> } | undefined)?.containers ?? [];
  return (
    <section aria-labelledby="containers-title">
      <h3 id="containers-title">Containers</h3>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Image</th>
              <th scope="col">State</th>
              <th scope="col">Ready</th>
              <th scope="col">Restarts</th>
            </tr>
          </thead>
          <tbody>
            {specs.map((c) => {
              const s = statuses.find((x) => x.name === c.name);
              const [state, detail] = Object.entries(s?.state ?? {})[0] ?? ['unknown', {}];
              return (
                <tr key={c.name}>
                  <td>{c.name}</td>
                  <td>{c.image}</td>
                  <td class={state === 'running' ? 'ok' : 'warn'}>
                    {state}
                    {detail.reason ? ` (${detail.reason})` : ''}
                  </td>
                  <td>{s?.ready ? 'yes' : 'no'}</td>
                  <td>{s?.restartCount ?? 0}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function OverviewTab(props: { obj: KObject; kind: Kind; custom: Kind[] }) {
  const { obj } = props;
  const m = obj.metadata;
  const conditions = (obj.status as { conditions?: Array<Record<string, string>> } | undefined)?.conditions ?? [];
  return (
    <div class="grid">
      <section aria-labelledby="meta-title">
        <h3 id="meta-title">Metadata</h3>
        <dl>
          {m.namespace && (
            <>
              <dt>Namespace</dt>
              <dd>{m.namespace}</dd>
            </>
          )}
          <dt>Created</dt>
          <dd>{m.creationTimestamp}</dd>
          <dt>UID</dt>
          <dd>
            <code>{m.uid}</code>
          </dd>
          <dt>Labels</dt>
          <dd>
            {Object.entries(m.labels ?? {}).map(([k, v]) => (
              <span class="chip" key={k}>
                {k}={v}
              </span>
            ))}
            {!m.labels && <span class="muted">none</span>}
          </dd>
          <dt>Owners</dt>
          <dd>
            {(m.ownerReferences ?? []).map((r) => {
              const k = kindOf(r.apiVersion, r.kind, props.custom);
              return k ? (
                <a key={r.uid} href={href(`/${k.key}/${k.namespaced ? `${m.namespace}/` : ''}${r.name}`)}>
                  {r.kind} {r.name}
                </a>
              ) : (
                <span key={r.uid}>
                  {r.kind} {r.name}
                </span>
              );
            })}
            {!m.ownerReferences?.length && <span class="muted">none</span>}
          </dd>
        </dl>
      </section>
      <section aria-labelledby="cond-title">
        <h3 id="cond-title">Conditions</h3>
        {conditions.length === 0 ? (
          <p class="muted">None reported</p>
        ) : (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">Status</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Message</th>
                </tr>
              </thead>
              <tbody>
                {conditions.map((c) => (
                  <tr key={c.type}>
                    <td>{c.type}</td>
                    <td class={c.status === 'True' ? 'ok' : 'warn'}>{c.status}</td>
                    <td>{c.reason}</td>
                    <td>{c.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {props.kind.kind === 'Pod' && <Containers pod={obj} />}
      <Owned obj={obj} kind={props.kind} />
    </div>
  );
}

/** One object: its overview, YAML (editable), events, and for pods logs, a terminal and usage. */
export function DetailPage(props: { kind: Kind; namespace?: string; name: string; custom: Kind[] }) {
  const { kind, namespace, name } = props;
  const live = useLiveObject(apiPath(kind, namespace), name);
  const [tab, setTab] = useState<Tab>('overview');
  const isPod = kind.kind === 'Pod';
  const tabs: Array<[Tab, string]> = [
    ['overview', 'Overview'],
    ['yaml', 'YAML'],
    ['events', 'Events'],
    ...(isPod
      ? ([
          ['logs', 'Logs'],
          ['terminal', 'Terminal'],
          ['ports', 'Ports'],
        ] as Array<[Tab, string]>)
      : []),
    ...(isPod || kind.kind === 'Node' ? ([['metrics', 'Usage']] as Array<[Tab, string]>) : []),
  ];
  const obj = live.data;
  return (
    <section aria-labelledby="detail-title">
      <p class="crumbs">
        <a href={href(`/${kind.key}`)}>{kind.title}</a> / {namespace && `${namespace} / `}
      </p>
      <h2 id="detail-title">
        {kind.kind} {name}
      </h2>
      {live.error && (
        <p role="alert" class="error">
          {live.error}
        </p>
      )}
      {obj && (
        <>
          <Actions kind={kind} obj={obj} />
          <div role="tablist" aria-label="Views" class="tabs">
            {tabs.map(([id, label]) => (
              <button
                key={id}
                role="tab"
                id={`tab-${id}`}
                aria-selected={tab === id}
                aria-controls={`panel-${id}`}
                onClick={() => setTab(id)}
              >
                {label}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} class="panel">
            {tab === 'overview' && <OverviewTab obj={obj} kind={kind} custom={props.custom} />}
            {tab === 'yaml' && <YamlTab kind={kind} obj={obj} />}
            {tab === 'events' && <EventsTable namespace={obj.metadata.namespace} uid={obj.metadata.uid!} />}
            {tab === 'logs' && <LogsTab pod={obj} />}
            {tab === 'terminal' && <TerminalTab pod={obj} />}
            {tab === 'ports' && <PortsTab pod={obj} />}
            {tab === 'metrics' && <MetricsTab kind={kind} obj={obj} />}
          </div>
        </>
      )}
    </section>
  );
}
