/**
 * What every kind holding a pod spec shares: Kubernetes' pod defaults, where the spec sits, and the
 * node-bound validation of it.
 */
import type { KObject } from '../objects.js';
import type { ResourceType } from '../resources.js';
import type { PodSpec } from '../../api/types.js';
import type { FieldProblem } from '../../api/validation.js';
import { obj, podSpecProblems, refuse } from '../validation.js';

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
    for (const p of c.ports ?? []) p.protocol ??= 'TCP';
  }
}

/** `spec.template.spec` of a workload, defaulted when present. */
export function defaultTemplate(spec: Record<string, unknown>): void {
  const template = spec.template as { spec?: PodSpec } | undefined;
  if (template?.spec) defaultPodSpec(template.spec);
}

/** Refuse a workload whose pod template has invalid node-bound fields. */
export function validateTemplate(r: ResourceType, o: KObject): void {
  // A StatefulSet's pods also get a volume per claim template, which their mounts may name.
  const claimTemplates = obj(o.spec)?.volumeClaimTemplates;
  const extraVolumes = Array.isArray(claimTemplates)
    ? claimTemplates.map((t) => obj(obj(t)?.metadata)?.name).filter((n) => typeof n === 'string')
    : [];
  refuse(r, o, podSpecProblems('spec.template.spec', obj(obj(obj(o.spec)?.template)?.spec), extraVolumes));
}

export const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** `spec.<field>: must be greater than or equal to 0` for each named number that is negative. */
export function nonNegative(spec: Record<string, unknown>, ...fields: string[]): FieldProblem[] {
  return fields
    .filter((f) => spec[f] !== undefined && spec[f] !== null && !(Number.isInteger(spec[f]) && Number(spec[f]) >= 0))
    .map((f) => ({ field: `spec.${f}`, value: spec[f], message: 'must be greater than or equal to 0' }));
}

/**
 * A workload's selector must be there and select its own template (Kubernetes'
 * `ValidatePodTemplateSpecForReplicaSet`): the template's labels, matched with `matches`.
 */
export function selectorProblems(
  spec: Record<string, unknown>,
  matches: (selector: unknown, labels: Record<string, string>) => boolean,
): FieldProblem[] {
  const selector = spec.selector;
  if (!obj(selector) || !Object.keys(obj(selector)!).length)
    return [{ field: 'spec.selector', message: 'Required value' }];
  const labels = (obj(obj(obj(spec.template)?.metadata)?.labels) ?? {}) as Record<string, string>;
  return matches(selector, labels)
    ? []
    : [
        {
          field: 'spec.template.metadata.labels',
          value: labels,
          message: '`selector` does not match template `labels`',
        },
      ];
}

/** The template's restart policy must be one of `allowed` (Always for long-running workloads). */
export function restartPolicyProblems(spec: Record<string, unknown>, allowed: string[]): FieldProblem[] {
  const policy = obj(obj(spec.template)?.spec)?.restartPolicy;
  if (policy === undefined || allowed.includes(String(policy))) return [];
  return [
    {
      field: 'spec.template.spec.restartPolicy',
      message: `Unsupported value: ${JSON.stringify(policy)}: supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`,
    },
  ];
}
