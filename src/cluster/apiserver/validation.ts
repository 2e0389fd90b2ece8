/**
 * Validation of the objects whose contents reach a node (as Kubernetes' pkg/apis/core/validation does
 * for them): Service ports, Endpoints and EndpointSlice addresses, ConfigMap and Secret keys, and pod
 * specs wherever they appear (pods and the templates of workloads). A problem is a 422 Invalid with
 * Kubernetes' field paths and words, before anything is stored.
 */
import {
  configKeyProblems,
  ipProblems,
  isDnsSubdomain,
  labelNameProblems,
  portProblems,
  protocolProblems,
  relativePathProblems,
  targetPortProblems,
  type FieldProblem,
} from '../api/validation.js';
import { invalid, type KObject } from './objects.js';
import type { ResourceType } from './resources.js';

type Obj = Record<string, unknown>;
const list = (v: unknown): Obj[] =>
  Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null) as Obj[]) : [];
/** `v` when it is a JSON object (not null, not an array). */
export const obj = (v: unknown): Obj | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;

function uniqueNames(field: string, items: Obj[], what: string): FieldProblem[] {
  const seen = new Set<unknown>();
  const out: FieldProblem[] = [];
  items.forEach((it, i) => {
    if (seen.has(it.name))
      out.push({
        field: `${field}[${i}].name`,
        value: it.name,
        message: `Duplicate value: ${what} names must be unique`,
      });
    seen.add(it.name);
  });
  return out;
}

function keyToPathProblems(field: string, items: unknown): FieldProblem[] {
  return list(items).flatMap((it, i) => relativePathProblems(`${field}.items[${i}].path`, it.path));
}

function volumeProblems(field: string, volumes: Obj[]): FieldProblem[] {
  const out = uniqueNames(field, volumes, 'volume');
  volumes.forEach((v, i) => {
    const f = `${field}[${i}]`;
    out.push(...labelNameProblems(`${f}.name`, v.name));
    for (const kind of ['configMap', 'secret', 'downwardAPI'] as const)
      if (obj(v[kind])) out.push(...keyToPathProblems(`${f}.${kind}`, obj(v[kind])!.items));
    list(obj(v.projected)?.sources).forEach((s, j) => {
      for (const kind of ['configMap', 'secret', 'downwardAPI'] as const)
        if (obj(s[kind])) out.push(...keyToPathProblems(`${f}.projected.sources[${j}].${kind}`, obj(s[kind])!.items));
    });
    const claim = obj(v.persistentVolumeClaim);
    if (claim && (typeof claim.claimName !== 'string' || claim.claimName === ''))
      out.push({ field: `${f}.persistentVolumeClaim.claimName`, message: 'Required value' });
    const host = obj(v.hostPath);
    if (host && (typeof host.path !== 'string' || String(host.path).split('/').includes('..')))
      out.push({ field: `${f}.hostPath.path`, value: host.path, message: "must not contain '..'" });
    else if (host && String(host.path).includes(':'))
      out.push({ field: `${f}.hostPath.path`, value: host.path, message: "must not contain ':'" });
  });
  return out;
}

function containerProblems(field: string, containers: Obj[], volumeNames: Set<unknown>): FieldProblem[] {
  const out: FieldProblem[] = [];
  containers.forEach((c, i) => {
    const f = `${field}[${i}]`;
    out.push(...labelNameProblems(`${f}.name`, c.name));
    list(c.ports).forEach((p, j) => {
      out.push(...portProblems(`${f}.ports[${j}].containerPort`, p.containerPort));
      if (p.hostPort !== undefined && p.hostPort !== 0)
        out.push(...portProblems(`${f}.ports[${j}].hostPort`, p.hostPort));
      out.push(...protocolProblems(`${f}.ports[${j}].protocol`, p.protocol));
      if (p.name !== undefined) out.push(...targetPortProblems(`${f}.ports[${j}].name`, p.name));
    });
    list(c.volumeMounts).forEach((m, j) => {
      if (!volumeNames.has(m.name))
        out.push({ field: `${f}.volumeMounts[${j}].name`, value: m.name, message: 'Not found' });
      if (typeof m.mountPath !== 'string' || m.mountPath === '')
        out.push({ field: `${f}.volumeMounts[${j}].mountPath`, message: 'Required value' });
      else if (m.mountPath.includes(':'))
        out.push({ field: `${f}.volumeMounts[${j}].mountPath`, value: m.mountPath, message: "must not contain ':'" });
      out.push(...relativePathProblems(`${f}.volumeMounts[${j}].subPath`, m.subPath));
    });
  });
  return out;
}

/** A pod spec's problems; `extraVolumes` are volumes added to it later (a StatefulSet's claim templates). */
export function podSpecProblems(field: string, spec: Obj | undefined, extraVolumes: unknown[] = []): FieldProblem[] {
  if (!spec) return [];
  const volumes = list(spec.volumes);
  const containers = [...list(spec.initContainers), ...list(spec.containers)];
  const names = new Set([...volumes.map((v) => v.name), ...extraVolumes]);
  return [
    ...volumeProblems(`${field}.volumes`, volumes),
    ...uniqueNames(`${field}.containers`, containers, 'container'),
    ...containerProblems(`${field}.initContainers`, list(spec.initContainers), names),
    ...containerProblems(`${field}.containers`, list(spec.containers), names),
    ...containerProblems(`${field}.ephemeralContainers`, list(spec.ephemeralContainers), names),
  ];
}

export function serviceProblems(o: KObject): FieldProblem[] {
  const spec = obj(o.spec) ?? {};
  const out: FieldProblem[] = [];
  const ports = list(spec.ports);
  if (spec.type !== undefined && !['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(String(spec.type)))
    out.push({
      field: 'spec.type',
      value: spec.type,
      message: 'Unsupported value: must be "ClusterIP", "ExternalName", "LoadBalancer" or "NodePort"',
    });
  ports.forEach((p, i) => {
    out.push(...portProblems(`spec.ports[${i}].port`, p.port));
    out.push(...protocolProblems(`spec.ports[${i}].protocol`, p.protocol));
    out.push(...targetPortProblems(`spec.ports[${i}].targetPort`, p.targetPort));
    if (p.nodePort !== undefined && p.nodePort !== 0)
      out.push(...portProblems(`spec.ports[${i}].nodePort`, p.nodePort));
    if (p.name !== undefined && p.name !== '') out.push(...labelNameProblems(`spec.ports[${i}].name`, p.name));
  });
  if (ports.length > 1) {
    ports.forEach((p, i) => {
      if (!p.name) out.push({ field: `spec.ports[${i}].name`, message: 'Required value' });
    });
  }
  (Array.isArray(spec.externalIPs) ? spec.externalIPs : []).forEach((ip: unknown, i: number) =>
    out.push(...ipProblems(`spec.externalIPs[${i}]`, ip)),
  );
  return out;
}

export function endpointsProblems(o: KObject): FieldProblem[] {
  const out: FieldProblem[] = [];
  list(o.subsets).forEach((s, i) => {
    for (const kind of ['addresses', 'notReadyAddresses'] as const) {
      list(s[kind]).forEach((a, j) => {
        out.push(...ipProblems(`subsets[${i}].${kind}[${j}].ip`, a.ip));
        if (a.nodeName !== undefined && !isDnsSubdomain(a.nodeName))
          out.push({
            field: `subsets[${i}].${kind}[${j}].nodeName`,
            value: a.nodeName,
            message: 'must be a valid node name',
          });
      });
    }
    list(s.ports).forEach((p, j) => {
      out.push(...portProblems(`subsets[${i}].ports[${j}].port`, p.port));
      out.push(...protocolProblems(`subsets[${i}].ports[${j}].protocol`, p.protocol));
      if (p.name !== undefined && p.name !== '')
        out.push(...labelNameProblems(`subsets[${i}].ports[${j}].name`, p.name));
    });
  });
  return out;
}

export function endpointSliceProblems(o: KObject): FieldProblem[] {
  const out: FieldProblem[] = [];
  const type = o.addressType;
  if (!['IPv4', 'IPv6', 'FQDN'].includes(String(type)))
    out.push({ field: 'addressType', value: type, message: 'Unsupported value: must be "FQDN", "IPv4" or "IPv6"' });
  list(o.endpoints).forEach((e, i) => {
    (Array.isArray(e.addresses) ? e.addresses : []).forEach((a: unknown, j: number) => {
      const field = `endpoints[${i}].addresses[${j}]`;
      if (type === 'FQDN') {
        if (!isDnsSubdomain(a)) out.push({ field, value: a, message: 'must be a valid FQDN' });
      } else out.push(...ipProblems(field, a));
    });
  });
  list(o.ports).forEach((p, j) => {
    if (p.port !== undefined && p.port !== null) out.push(...portProblems(`ports[${j}].port`, p.port));
    out.push(...protocolProblems(`ports[${j}].protocol`, p.protocol));
  });
  return out;
}

export function dataKeyProblems(o: KObject): FieldProblem[] {
  const out: FieldProblem[] = [];
  for (const field of ['data', 'binaryData', 'stringData'])
    for (const key of Object.keys(obj(o[field]) ?? {})) out.push(...configKeyProblems(`${field}[${key}]`, key));
  return out;
}

/** Refuse an object whose node-bound fields are invalid (a 422 naming every problem). */
export function refuse(r: ResourceType, o: KObject, problems: FieldProblem[]): void {
  if (problems.length) throw invalid(r, o.metadata?.name ?? '', problems);
}
