/** Server-side printing: `kubectl get` asks for a meta.k8s.io/v1 Table with kubectl's columns per kind. */
import type { KObject } from './objects.js';
import type { PrinterColumn, ResourceType } from './resources.js';

interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  description?: string;
  cell: (o: KObject) => unknown;
}

/** kubectl's age: 5s, 3m, 2h, 4d, 2y (two units below a day, as `duration.HumanDuration`). */
export function age(ts: string | undefined): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

type ContainerState = {
  ready?: boolean;
  state?: {
    waiting?: { reason?: string };
    running?: object;
    terminated?: { reason?: string; exitCode?: number; signal?: number };
  };
};

/** The STATUS kubectl prints for a pod: a container's waiting or terminated reason wins over the phase. */
function podStatus(o: KObject): string {
  const st = (o.status ?? {}) as {
    phase?: string;
    reason?: string;
    containerStatuses?: ContainerState[];
    conditions?: Array<{ type: string; status: string }>;
  };
  let reason = st.reason ?? st.phase ?? 'Pending';
  let running = false;
  for (const c of [...(st.containerStatuses ?? [])].reverse()) {
    if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
    else if (c.state?.terminated?.reason) reason = c.state.terminated.reason;
    else if (c.state?.terminated)
      reason = c.state.terminated.signal
        ? `Signal:${c.state.terminated.signal}`
        : `ExitCode:${c.state.terminated.exitCode ?? 0}`;
    else if (c.ready && c.state?.running) running = true;
  }
  if (reason === 'Completed' && running)
    reason = st.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady';
  return o.metadata?.deletionTimestamp ? 'Terminating' : reason;
}

const spec = (o: KObject): Record<string, unknown> => (o.spec ?? {}) as Record<string, unknown>;
const status = (o: KObject): Record<string, unknown> => (o.status ?? {}) as Record<string, unknown>;
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const name: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata?.name ?? '' };
const ageCol: Column = { name: 'Age', type: 'string', cell: (o) => age(o.metadata?.creationTimestamp) };

type Container = { name?: string; image?: string; ports?: Array<{ containerPort?: number }> };
const containersOf = (o: KObject): Container[] =>
  (spec(o).template as { spec?: { containers?: Container[] } } | undefined)?.spec?.containers ??
  (spec(o).containers as Container[] | undefined) ??
  [];
const selectorText = (o: KObject): string => {
  const sel = spec(o).selector as { matchLabels?: Record<string, string> } | Record<string, string> | undefined;
  const labels = (sel && 'matchLabels' in sel ? sel.matchLabels : sel) as Record<string, string> | undefined;
  return (
    Object.entries(labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '<none>'
  );
};

/** The `-o wide` columns of every kind that runs pods from a template. */
const templateWide: Column[] = [
  {
    name: 'Containers',
    type: 'string',
    priority: 1,
    cell: (o) =>
      containersOf(o)
        .map((c) => c.name)
        .join(','),
  },
  {
    name: 'Images',
    type: 'string',
    priority: 1,
    cell: (o) =>
      containersOf(o)
        .map((c) => c.image)
        .join(','),
  },
  { name: 'Selector', type: 'string', priority: 1, cell: selectorText },
];

const workload = (ready: (o: KObject) => string): Column[] => [
  name,
  { name: 'Ready', type: 'string', cell: ready },
  { name: 'Up-to-date', type: 'integer', cell: (o) => num(status(o).updatedReplicas) },
  { name: 'Available', type: 'integer', cell: (o) => num(status(o).availableReplicas) },
  ageCol,
  ...templateWide,
];

function servicePorts(o: KObject): string {
  const ports = (spec(o).ports as Array<{ port?: number; nodePort?: number; protocol?: string }> | undefined) ?? [];
  return (
    ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',') || '<none>'
  );
}

function externalIp(o: KObject): string {
  const s = spec(o);
  const ingress = (
    (status(o).loadBalancer as { ingress?: Array<{ ip?: string; hostname?: string }> } | undefined)?.ingress ?? []
  ).map((i) => i.ip ?? i.hostname);
  const external = (s.externalIPs as string[] | undefined) ?? [];
  if (s.type === 'LoadBalancer') return [...ingress, ...external].join(',') || '<pending>';
  return external.join(',') || '<none>';
}

const COLUMNS: Record<string, Column[]> = {
  Namespace: [name, { name: 'Status', type: 'string', cell: (o) => status(o).phase ?? 'Active' }, ageCol],
  Pod: [
    name,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) =>
        `${((status(o).containerStatuses as Array<{ ready?: boolean }> | undefined) ?? []).filter((c) => c.ready).length}/${containersOf(o).length}`,
    },
    { name: 'Status', type: 'string', cell: podStatus },
    {
      name: 'Restarts',
      type: 'string',
      cell: (o) =>
        String(
          ((status(o).containerStatuses as Array<{ restartCount?: number }> | undefined) ?? []).reduce(
            (n, c) => n + (c.restartCount ?? 0),
            0,
          ),
        ),
    },
    ageCol,
    { name: 'IP', type: 'string', priority: 1, cell: (o) => status(o).podIP ?? '<none>' },
    { name: 'Node', type: 'string', priority: 1, cell: (o) => spec(o).nodeName ?? '<none>' },
    { name: 'Nominated Node', type: 'string', priority: 1, cell: () => '<none>' },
    { name: 'Readiness Gates', type: 'string', priority: 1, cell: () => '<none>' },
  ],
  Deployment: workload((o) => `${num(status(o).readyReplicas)}/${num(spec(o).replicas)}`),
  ReplicaSet: [
    name,
    { name: 'Desired', type: 'integer', cell: (o) => num(spec(o).replicas) },
    { name: 'Current', type: 'integer', cell: (o) => num(status(o).replicas) },
    { name: 'Ready', type: 'integer', cell: (o) => num(status(o).readyReplicas) },
    ageCol,
    ...templateWide,
  ],
  Service: [
    name,
    { name: 'Type', type: 'string', cell: (o) => spec(o).type ?? 'ClusterIP' },
    { name: 'Cluster-IP', type: 'string', cell: (o) => spec(o).clusterIP ?? '<none>' },
    { name: 'External-IP', type: 'string', cell: externalIp },
    { name: 'Port(s)', type: 'string', cell: servicePorts },
    ageCol,
    { name: 'Selector', type: 'string', priority: 1, cell: selectorText },
  ],
  Event: [
    {
      name: 'Last Seen',
      type: 'string',
      cell: (o) =>
        age(
          (o.lastTimestamp as string | undefined) ??
            (o.eventTime as string | undefined) ??
            o.metadata?.creationTimestamp,
        ),
    },
    { name: 'Type', type: 'string', cell: (o) => o.type ?? '' },
    { name: 'Reason', type: 'string', cell: (o) => o.reason ?? '' },
    {
      name: 'Object',
      type: 'string',
      cell: (o) => {
        const i = (o.involvedObject ?? {}) as { kind?: string; name?: string };
        return `${String(i.kind ?? '').toLowerCase()}/${i.name ?? ''}`;
      },
    },
    { name: 'Message', type: 'string', cell: (o) => o.message ?? '' },
    {
      name: 'Source',
      type: 'string',
      priority: 1,
      cell: (o) => {
        const src = (o.source ?? {}) as { component?: string; host?: string };
        return [src.component, src.host].filter(Boolean).join(', ');
      },
    },
    { name: 'Count', type: 'integer', priority: 1, cell: (o) => o.count ?? 1 },
    { name: 'Name', type: 'string', priority: 1, cell: (o) => o.metadata?.name ?? '' },
  ],
  ConfigMap: [
    name,
    {
      name: 'Data',
      type: 'integer',
      cell: (o) =>
        Object.keys((o.data as object | undefined) ?? {}).length +
        Object.keys((o.binaryData as object | undefined) ?? {}).length,
    },
    ageCol,
  ],
  Secret: [
    name,
    { name: 'Type', type: 'string', cell: (o) => o.type ?? 'Opaque' },
    { name: 'Data', type: 'integer', cell: (o) => Object.keys((o.data as object | undefined) ?? {}).length },
    ageCol,
  ],
  Endpoints: [
    name,
    {
      name: 'Endpoints',
      type: 'string',
      cell: (o) =>
        ((o.subsets as Array<{ addresses?: Array<{ ip: string }>; ports?: Array<{ port: number }> }> | undefined) ?? [])
          .flatMap((s) => (s.addresses ?? []).flatMap((a) => (s.ports ?? []).map((p) => `${a.ip}:${p.port}`)))
          .join(',') || '<none>',
    },
    ageCol,
  ],
  Node: [
    name,
    {
      name: 'Status',
      type: 'string',
      cell: (o) =>
        ((status(o).conditions as Array<{ type: string; status: string }> | undefined) ?? []).find(
          (c) => c.type === 'Ready',
        )?.status === 'True'
          ? 'Ready'
          : 'NotReady',
    },
    { name: 'Roles', type: 'string', cell: () => '<none>' },
    ageCol,
    {
      name: 'Version',
      type: 'string',
      cell: (o) => (status(o).nodeInfo as { kubeletVersion?: string } | undefined)?.kubeletVersion ?? '',
    },
  ],
};

/** A simple JSONPath of a printer column (`.spec.replicas`, `.status.conditions[0].type`). */
function jsonPathValue(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const part of path
    .replace(/^\{?\.?/, '')
    .replace(/\}$/, '')
    .split('.')
    .filter(Boolean)) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return undefined;
    if (m[1]) cur = (cur as Record<string, unknown> | undefined)?.[m[1]];
    for (const idx of m[2]!.match(/\d+/g) ?? []) cur = (cur as unknown[] | undefined)?.[Number(idx)];
  }
  return cur;
}

function customColumns(columns: PrinterColumn[]): Column[] {
  return [
    name,
    ...columns.map((c): Column => ({
      name: c.name,
      type: c.type === 'date' ? 'string' : c.type,
      format: c.format,
      priority: c.priority,
      description: c.description,
      cell: (o) => {
        const v = jsonPathValue(o, c.jsonPath);
        if (c.type === 'date') return typeof v === 'string' ? age(v) : '<unknown>';
        return v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : v;
      },
    })),
  ];
}

export function tableFor(r: ResourceType, items: KObject[], resourceVersion: string): Record<string, unknown> {
  const cols = r.printerColumns?.length ? customColumns(r.printerColumns) : (COLUMNS[r.kind] ?? [name, ageCol]);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? c.name,
      priority: c.priority ?? 0,
    })),
    rows: items.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
