import { useEffect, useState } from 'preact/hooks';
import { get, type KObject } from '../api';
import type { Kind } from '../kinds';
import { Chart, formatBytes, formatCores, quantity } from '../components/Chart';

interface Usage {
  cpu: string;
  memory: string;
}

/** Samples of the metrics API (metrics.k8s.io), taken while the page is open. */
export function useUsage(
  path: string,
  everyMs = 10_000,
): { points: Array<{ t: number; cpu: number; memory: number }>; error: string } {
  const [points, setPoints] = useState<Array<{ t: number; cpu: number; memory: number }>>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    const abort = new AbortController();
    const sample = (): void => {
      get<{ usage?: Usage; containers?: Array<{ usage: Usage }> }>(path, abort.signal)
        .then((m) => {
          const usages = m.usage ? [m.usage] : (m.containers ?? []).map((c) => c.usage);
          const cpu = usages.reduce((a, u) => a + quantity(u.cpu), 0) * 1e9;
          const memory = usages.reduce((a, u) => a + quantity(u.memory), 0);
          setPoints((p) => [...p, { t: Date.now(), cpu, memory }].slice(-60));
          setError('');
        })
        .catch((err: Error) => !abort.signal.aborted && setError(err.message));
    };
    sample();
    const timer = setInterval(sample, everyMs);
    return () => {
      abort.abort();
      clearInterval(timer);
    };
  }, [path]);
  return { points, error };
}

export function MetricsTab(props: { kind: Kind; obj: KObject }) {
  const m = props.obj.metadata;
  const path =
    props.kind.kind === 'Node'
      ? `/apis/metrics.k8s.io/v1beta1/nodes/${encodeURIComponent(m.name)}`
      : `/apis/metrics.k8s.io/v1beta1/namespaces/${encodeURIComponent(m.namespace!)}/pods/${encodeURIComponent(m.name)}`;
  const { points, error } = useUsage(path);
  return (
    <div class="charts">
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <Chart title="CPU" unit="cores" points={points.map((p) => ({ t: p.t, v: p.cpu }))} format={formatCores} />
      <Chart title="Memory" unit="bytes" points={points.map((p) => ({ t: p.t, v: p.memory }))} format={formatBytes} />
      <p class="muted">Sampled every 10 s from the metrics API while this page is open.</p>
    </div>
  );
}
