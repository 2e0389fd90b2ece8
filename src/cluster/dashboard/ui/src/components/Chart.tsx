/** A small line chart of samples over time, drawn as SVG, with its latest value in words for screen readers. */
export function Chart(props: {
  title: string;
  unit: string;
  points: Array<{ t: number; v: number }>;
  format: (v: number) => string;
}) {
  const { points } = props;
  const w = 320;
  const h = 90;
  const max = Math.max(1e-9, ...points.map((p) => p.v));
  const t0 = points[0]?.t ?? 0;
  const span = Math.max(1, (points[points.length - 1]?.t ?? 1) - t0);
  const line = points.map((p) => `${((p.t - t0) / span) * w},${h - (p.v / max) * (h - 6) - 3}`).join(' ');
  const latest = points[points.length - 1];
  return (
    <figure class="chart">
      <figcaption>
        {props.title}: <strong>{latest ? props.format(latest.v) : '—'}</strong>
      </figcaption>
      <svg
        viewBox={`0 0 ${w} ${h}`}
        role="img"
        aria-label={`${props.title} over the last ${points.length} samples, up to ${props.format(max)}`}
      >
        <polyline points={line} fill="none" stroke="currentColor" stroke-width="2" />
        {latest && (
          <circle cx={((latest.t - t0) / span) * w} cy={h - (latest.v / max) * (h - 6) - 3} r="3" fill="currentColor" />
        )}
      </svg>
    </figure>
  );
}

export const formatCores = (nanoCores: number): string => `${(nanoCores / 1e6).toFixed(0)}m`;
export const formatBytes = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

/** A Kubernetes quantity (`123456n`, `15m`, `2`, `1024Ki`, `1Gi`) as a number of base units. */
export function quantity(q: string): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const factors: Record<string, number> = {
    n: 1e-9,
    u: 1e-6,
    m: 1e-3,
    '': 1,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
  };
  return Number(m[1]) * (factors[m[2]!] ?? 1);
}
