/** `pods/<name>/binding`: the scheduler's way to put a pod on a node (the pod's spec is otherwise fixed). */
import { nowRfc3339 } from '../../../api/object.js';
import { StorageError } from '../../../storage/types.js';
import { ApiError, conflict, notFound, type KObject } from '../../objects.js';
import { storageKey } from '../../resources.js';
import type { Subresource } from '../strategy.js';

const SUCCESS = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };

export const binding: Subresource = {
  kind: 'Binding',
  verbs: ['create', 'get'],
  async handle(ctx, { t, body, dryRun }) {
    const b = await body();
    const target = b.target as { kind?: string; name?: string } | undefined;
    if (!target?.name)
      throw new ApiError(422, 'Invalid', `Binding "${t.name}" is invalid: target.name: Required value`);
    if (target.kind && target.kind !== 'Node')
      throw new ApiError(
        422,
        'Invalid',
        `Binding "${t.name}" is invalid: target.kind: Unsupported value: "${target.kind}": supported values: "Node"`,
      );
    const key = storageKey(t.res, t.namespace, t.name);
    const kv = await ctx.storage.get(key);
    if (!kv) throw notFound(t.res, t.name!);
    const pod = JSON.parse(kv.value.toString('utf8')) as KObject;
    const spec = (pod.spec ?? {}) as { nodeName?: string };
    const refuse = (why: string): ApiError =>
      new ApiError(409, 'Conflict', `Operation cannot be fulfilled on pods/binding "${t.name}": ${why}`, {
        name: t.name,
        kind: 'pods/binding',
      });
    if (spec.nodeName) throw refuse(`pod ${t.name} is already assigned to node "${spec.nodeName}"`);
    if (pod.metadata?.deletionTimestamp) throw refuse(`pod ${t.name} is being deleted, cannot be assigned to a host`);
    if (dryRun) return [201, SUCCESS];
    const conditions = ((pod.status?.conditions as Array<{ type: string }> | undefined) ?? []).filter(
      (c) => c.type !== 'PodScheduled',
    );
    const next: KObject = {
      ...pod,
      spec: { ...pod.spec, nodeName: target.name },
      status: {
        ...pod.status,
        conditions: [
          ...conditions,
          {
            type: 'PodScheduled',
            status: 'True',
            lastProbeTime: null,
            lastTransitionTime: nowRfc3339(),
          },
        ],
      },
    };
    delete next.metadata!.resourceVersion;
    await ctx.storage.update(key, Buffer.from(JSON.stringify(next)), kv.modRevision).catch((err: unknown) => {
      if (err instanceof StorageError && err.code === 'conflict') throw conflict(t.res, t.name!);
      throw err;
    });
    return [201, SUCCESS];
  },
};
