/**
 * Revision history of DaemonSets and StatefulSets, as Kubernetes keeps it (`pkg/controller/history`):
 * one ControllerRevision per distinct pod template, named `<owner>-<hash>`, numbered in the order the
 * templates were used; its data is the patch that puts that template back (what `kubectl rollout
 * undo` applies). Returning to an earlier template renumbers its revision as the newest; revisions
 * beyond `revisionHistoryLimit` that no pod uses are deleted.
 */
import { isAlreadyExists, isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { BY_OWNER, type Informer } from '../client/informer.js';
import { podTemplateHash } from './deployment.js';
import { ownerReference, type OwnerKind } from './podcontrol.js';

const REVISIONS = 'controllerrevisions';

export interface Revisions {
  /** The revision of the owner's current template. */
  current: KObject;
  /** Its hash (the `controller-revision-hash` of DaemonSet pods). */
  hash: string;
  /** Every revision of the owner, oldest first. */
  all: KObject[];
}

export const revisionNumber = (r: KObject): number => Number(r.revision ?? 0);

/** Make sure the owner's current template has the newest revision; prune the history. */
export async function syncRevisions(
  client: KubeClient,
  revisions: Informer,
  owner: KObject,
  kind: OwnerKind,
  template: KObject,
  inUse: Set<string>,
): Promise<Revisions> {
  revisions.addIndex(BY_OWNER);
  const ns = owner.metadata!.namespace!;
  const base = collectionPath('apps/v1', REVISIONS, ns);
  let all = revisions
    .byIndex(BY_OWNER, owner.metadata?.uid ?? '')
    .filter((r) => r.metadata?.namespace === ns)
    .sort((a, b) => revisionNumber(a) - revisionNumber(b));
  const hash = podTemplateHash(template);
  const name = `${owner.metadata!.name}-${hash}`;
  const newest = Math.max(0, ...all.map(revisionNumber));
  let current = all.find((r) => r.metadata?.name === name);
  if (!current) {
    const made: KObject = {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name,
        namespace: ns,
        labels: { ...template.metadata?.labels, 'controller-revision-hash': hash },
        annotations: changeCause(owner),
        ownerReferences: [ownerReference(owner, kind)],
      },
      data: { spec: { template: { ...template, $patch: 'replace' } } },
      revision: newest + 1,
    };
    current = await client.create(base, made).catch(async (err: unknown) => {
      if (!isAlreadyExists(err)) throw err;
      return client.request<KObject>('GET', `${base}/${name}`);
    });
    all = [...all, current];
  } else if (revisionNumber(current) < newest) {
    current = await client.mergePatch(`${base}/${name}`, { revision: newest + 1 });
    all = [...all.filter((r) => r.metadata?.name !== name), current];
  }
  const limit = Number((owner.spec as { revisionHistoryLimit?: number } | undefined)?.revisionHistoryLimit ?? 10);
  const old = all.filter((r) => r !== current && !inUse.has(r.metadata!.name!));
  for (const r of old.slice(0, Math.max(0, old.length - limit))) {
    await client.delete(`${base}/${r.metadata!.name}`).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
  return { current, hash, all };
}

/** kubectl's `kubernetes.io/change-cause`, carried from the owner to the revision. */
function changeCause(owner: KObject): Record<string, string> | undefined {
  const cause = owner.metadata?.annotations?.['kubernetes.io/change-cause'];
  return cause ? { 'kubernetes.io/change-cause': cause } : undefined;
}
