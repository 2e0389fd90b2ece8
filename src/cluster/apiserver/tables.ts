/** Server-side printing: `kubectl get` asks for a meta.k8s.io/v1 Table with kubectl's columns per kind. */
import { age } from '../api/age.js';
import type { KObject } from './objects.js';
import type { PrinterColumn, ResourceType } from './resources.js';

export interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  description?: string;
  cell: (o: KObject) => unknown;
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
export function podStatus(o: KObject): string {
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

export const spec = (o: KObject): Record<string, unknown> => (o.spec ?? {}) as Record<string, unknown>;
export const status = (o: KObject): Record<string, unknown> => (o.status ?? {}) as Record<string, unknown>;
export const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
export const nameColumn: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata?.name ?? '' };
export const ageColumn: Column = { name: 'Age', type: 'string', cell: (o) => age(o.metadata?.creationTimestamp) };

type Container = { name?: string; image?: string; ports?: Array<{ containerPort?: number }> };
export const containersOf = (o: KObject): Container[] =>
  (spec(o).template as { spec?: { containers?: Container[] } } | undefined)?.spec?.containers ??
  (spec(o).containers as Container[] | undefined) ??
  [];
export const selectorText = (o: KObject): string => {
  const sel = spec(o).selector as { matchLabels?: Record<string, string> } | Record<string, string> | undefined;
  const labels = (sel && 'matchLabels' in sel ? sel.matchLabels : sel) as Record<string, string> | undefined;
  return (
    Object.entries(labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '<none>'
  );
};

/** The `-o wide` columns of every kind that runs pods from a template. */
export const templateWide: Column[] = [
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

export const workloadColumns = (ready: (o: KObject) => string): Column[] => [
  nameColumn,
  { name: 'Ready', type: 'string', cell: ready },
  { name: 'Up-to-date', type: 'integer', cell: (o) => num(status(o).updatedReplicas) },
  { name: 'Available', type: 'integer', cell: (o) => num(status(o).availableReplicas) },
  ageColumn,
  ...templateWide,
];

export function servicePorts(o: KObject): string {
  const ports = (spec(o).ports as Array<{ port?: number; nodePort?: number; protocol?: string }> | undefined) ?? [];
  return (
    ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',') || '<none>'
  );
}

export function externalIp(o: KObject): string {
  const s = spec(o);
  const ingress = (
    (status(o).loadBalancer as { ingress?: Array<{ ip?: string; hostname?: string }> } | undefined)?.ingress ?? []
  ).map((i) => i.ip ?? i.hostname);
  const external = (s.externalIPs as string[] | undefined) ?? [];
  if (s.type === 'LoadBalancer') return [...ingress, ...external].join(',') || '<pending>';
  return external.join(',') || '<none>';
}

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
    nameColumn,
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

/** The Table of `items`: a custom resource's printer columns, else the kind's own, else name and age. */
export function tableFor(
  r: ResourceType,
  columns: Column[] | undefined,
  items: KObject[],
  resourceVersion: string,
): Record<string, unknown> {
  const cols = r.printerColumns?.length ? customColumns(r.printerColumns) : (columns ?? [nameColumn, ageColumn]);
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
