/** Whether a node matches a pod's nodeSelector and node affinity terms (Kubernetes' NodeSelector rules). */
import type { NodeInfo, NodeSelectorRequirement, NodeSelectorTerm, PodInfo } from './framework.js';

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const have = Number(value);
      const bound = Number(values[0]);
      if (value === undefined || !Number.isInteger(have) || !Number.isInteger(bound)) return false;
      return r.operator === 'Gt' ? have > bound : have < bound;
    }
    default:
      return false;
  }
}

/** A term matches when all its expressions (labels) and fields (`metadata.name`) do; an empty term never. */
export function termMatches(term: NodeSelectorTerm, node: NodeInfo): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (!exprs.length && !fields.length) return false;
  return (
    exprs.every((e) => requirementMatches(e, node.labels[e.key])) &&
    fields.every((f) => f.key === 'metadata.name' && requirementMatches(f, node.name))
  );
}

/** Runs for hundreds of nodes per pod, so it loops rather than allocating entries. */
function selectorMatches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** The pod's nodeSelector and, if any, one of its required node affinity terms. */
export function nodeMatches(pod: PodInfo, node: NodeInfo): boolean {
  return (
    selectorMatches(pod.nodeSelector, node.labels) &&
    (!pod.affinityTerms.length || pod.affinityTerms.some((t) => termMatches(t, node)))
  );
}
