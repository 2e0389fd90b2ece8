import { useLiveList } from '../live';
import { href } from '../router';
import { EventsTable } from '../components/EventsTable';
import { Chart, formatBytes, formatCores } from '../components/Chart';
import { useUsage } from './MetricsTab';
import type { KObject } from '../api';

function ready(node: KObject): boolean {
  const conditions =
    (node.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

function NodeUsage(props: { name: string }) {
  const { points, error } = useUsage(`/apis/metrics.k8s.io/v1beta1/nodes/${encodeURIComponent(props.name)}`, 15_000);
  return (
    <div class="node-usage">
      <h4>
        <a href={href(`/nodes/${props.name}`)}>{props.name}</a>
      </h4>
      {error ? (
        <p class="muted">{error}</p>
      ) : (
        <div class="charts">
          <Chart title="CPU" unit="cores" points={points.map((p) => ({ t: p.t, v: p.cpu }))} format={formatCores} />
          <Chart
            title="Memory"
            unit="bytes"
            points={points.map((p) => ({ t: p.t, v: p.memory }))}
            format={formatBytes}
          />
        </div>
      )}
    </div>
  );
}

/** The cluster at a glance: nodes and their usage, pods by phase, recent warnings. */
export function Overview(props: { namespace: string }) {
  const nodes = useLiveList('/api/v1/nodes');
  const pods = useLiveList(
    props.namespace ? `/api/v1/namespaces/${encodeURIComponent(props.namespace)}/pods` : '/api/v1/pods',
  );
  const phases = new Map<string, number>();
  for (const p of pods.data?.items ?? []) {
    const phase = String((p.status as { phase?: string } | undefined)?.phase ?? 'Pending');
    phases.set(phase, (phases.get(phase) ?? 0) + 1);
  }
  const nodeList = nodes.data?.items ?? [];
  return (
    <section aria-labelledby="overview-title">
      <h2 id="overview-title">Overview</h2>
      <div class="cards">
        <div class="card">
          <h3>Nodes</h3>
          {nodes.error ? (
            <p class="error">{nodes.error}</p>
          ) : (
            <p class="big">
              {nodeList.filter(ready).length}/{nodeList.length} <span class="muted">ready</span>
            </p>
          )}
        </div>
        <div class="card">
          <h3>Pods{props.namespace && ` in ${props.namespace}`}</h3>
          {pods.error ? (
            <p class="error">{pods.error}</p>
          ) : (
            <ul class="phases">
              {['Running', 'Pending', 'Succeeded', 'Failed', 'Unknown'].map((ph) => (
                <li key={ph}>
                  <span class={`phase ${ph}`}>{ph}</span> {phases.get(ph) ?? 0}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      <h3>Node usage</h3>
      <div class="usage">
        {nodeList.map((n) => (
          <NodeUsage key={n.metadata.name} name={n.metadata.name} />
        ))}
      </div>
      <h3>Recent warnings</h3>
      <EventsTable namespace={props.namespace || undefined} warningsOnly limit={10} />
    </section>
  );
}
