/**
 * What every kind holding a pod spec shares: Kubernetes' pod defaults, where the spec sits, and the
 * node-bound validation of it.
 */
import type { KObject } from '../objects.js';
import type { ResourceType } from '../resources.js';
import { obj, podSpecProblems, refuse } from '../validation.js';

type PodSpec = {
  containers?: Array<Record<string, unknown>>;
  initContainers?: Array<Record<string, unknown>>;
  [k: string]: unknown;
};

export function defaultPodSpec(spec: PodSpec): void {
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    const image = String(c.image ?? '');
    const tag = image.includes('@') ? 'digest' : (/:([^/]+)$/.exec(image)?.[1] ?? 'latest');
    c.imagePullPolicy ??= tag === 'latest' ? 'Always' : 'IfNotPresent';
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    c.resources ??= {};
    for (const p of (c.ports as Array<Record<string, unknown>> | undefined) ?? []) p.protocol ??= 'TCP';
  }
}

/** `spec.template.spec` of a workload, defaulted when present. */
export function defaultTemplate(spec: Record<string, unknown>): void {
  const template = spec.template as { spec?: PodSpec } | undefined;
  if (template?.spec) defaultPodSpec(template.spec);
}

/** Refuse a workload whose pod template has invalid node-bound fields. */
export function validateTemplate(r: ResourceType, o: KObject): void {
  refuse(r, o, podSpecProblems('spec.template.spec', obj(obj(obj(o.spec)?.template)?.spec)));
}

export const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
