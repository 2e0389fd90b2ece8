/** The `scale` subresource of workloads (`kubectl scale`): a Scale view of spec.replicas. */
import { ApiError, type KObject } from '../objects.js';

/** The Scale a workload shows through `<resource>/<name>/scale`. */
export function scaleOf(o: KObject): KObject {
  const spec = (o.spec ?? {}) as { replicas?: number; selector?: Record<string, unknown> };
  // A ReplicationController's selector is the label map itself.
  const labels = (spec.selector?.matchLabels ?? (spec.selector?.matchExpressions ? {} : spec.selector) ?? {}) as Record<
    string,
    string
  >;
  const selector = Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: o.metadata?.name,
      namespace: o.metadata?.namespace,
      uid: o.metadata?.uid,
      resourceVersion: o.metadata?.resourceVersion,
      creationTimestamp: o.metadata?.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: Number((o.status as { replicas?: number } | undefined)?.replicas ?? 0), selector },
  };
}

/** A workload with the replicas a Scale write asks for (the only field it may change). */
export function withScale(cur: KObject, scale: KObject): KObject {
  const replicas = (scale.spec as { replicas?: number } | undefined)?.replicas;
  if (typeof replicas !== 'number' || replicas < 0)
    throw new ApiError(
      422,
      'Invalid',
      `Scale "${cur.metadata?.name}" is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`,
    );
  return {
    ...cur,
    metadata: { ...cur.metadata, resourceVersion: scale.metadata?.resourceVersion ?? cur.metadata?.resourceVersion },
    spec: { ...cur.spec, replicas },
  };
}
