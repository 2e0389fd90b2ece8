/**
 * What every controller that runs pods shares, after Kubernetes' `controller_utils.go` and
 * `controller_ref_manager.go`: pods made from a template and owned by their controller, expectations
 * of creations and deletions not yet seen through the informer (so a sync that runs before the informer
 * catches up does not act twice), and the claiming of pods by selector — orphans that match are
 * adopted, owned pods that no longer match are released.
 */
import { isNotFound } from '../api/errors.js';
import { controllerOf, keyOf, type KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';

const EXPECTATIONS_TIMEOUT_MS = 30_000;

/** The kind of a controller, as its pods' ownerReferences name it. */
export interface OwnerKind {
  apiVersion: string;
  kind: string;
}

export const ownerReference = (owner: KObject, kind: OwnerKind): Record<string, unknown> => ({
  apiVersion: kind.apiVersion,
  kind: kind.kind,
  name: owner.metadata!.name,
  uid: owner.metadata!.uid,
  controller: true,
  blockOwnerDeletion: true,
});

/** A pod from `template` owned by `owner`; `extra` adds a name, labels, annotations or spec fields. */
export function podFromTemplate(
  owner: KObject,
  kind: OwnerKind,
  template: KObject | undefined,
  extra: {
    name?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    spec?: Record<string, unknown>;
  } = {},
): KObject {
  const meta = template?.metadata ?? {};
  const labels = { ...meta.labels, ...extra.labels };
  const annotations = { ...meta.annotations, ...extra.annotations };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(extra.name ? { name: extra.name } : { generateName: `${owner.metadata!.name}-` }),
      namespace: owner.metadata!.namespace,
      labels,
      ...(Object.keys(annotations).length ? { annotations } : {}),
      ownerReferences: [ownerReference(owner, kind)],
    },
    spec: { ...structuredClone(template?.spec ?? {}), ...extra.spec },
  };
}

interface Expectation {
  adds: number;
  deletes: Set<string>;
  since: number;
}

/** Creations and deletions a controller has asked for and not yet seen, per controller key. */
export class Expectations {
  private readonly byKey = new Map<string, Expectation>();

  expect(key: string, adds: number, deletes: string[] = []): void {
    this.byKey.set(key, { adds, deletes: new Set(deletes), since: Date.now() });
  }

  creationObserved(key: string): void {
    const e = this.byKey.get(key);
    if (e && e.adds > 0) e.adds--;
  }

  /** A creation that failed will never be observed. */
  creationFailed(key: string, n = 1): void {
    const e = this.byKey.get(key);
    if (e) e.adds -= n;
  }

  deletionObserved(key: string, podKey: string): void {
    this.byKey.get(key)?.deletes.delete(podKey);
  }

  forget(key: string): void {
    this.byKey.delete(key);
  }

  /** Nothing outstanding (or what was outstanding is too old to wait for). */
  satisfied(key: string): boolean {
    const e = this.byKey.get(key);
    if (!e) return true;
    if ((e.adds <= 0 && e.deletes.size === 0) || Date.now() - e.since > EXPECTATIONS_TIMEOUT_MS) {
      this.byKey.delete(key);
      return true;
    }
    return false;
  }
}

/**
 * The pods `owner` controls after claiming: its own that still match, plus orphans in its namespace
 * that match (adopted by adding its ownerReference); its own that no longer match are released. A
 * controller being deleted adopts nothing.
 */
export async function claimPods(
  client: KubeClient,
  owner: KObject,
  kind: OwnerKind,
  matches: (pod: KObject) => boolean,
  candidates: KObject[],
): Promise<KObject[]> {
  const uid = owner.metadata?.uid;
  const claimed: KObject[] = [];
  for (const pod of candidates) {
    if (pod.metadata?.namespace !== owner.metadata?.namespace) continue;
    const ref = controllerOf(pod);
    if (ref && ref.uid !== uid) continue;
    const path = `${collectionPath('v1', 'pods', pod.metadata?.namespace)}/${pod.metadata?.name}`;
    const refs = pod.metadata?.ownerReferences ?? [];
    try {
      if (ref && matches(pod)) claimed.push(pod);
      else if (ref && !pod.metadata?.deletionTimestamp) {
        await client.mergePatch(path, {
          metadata: { ownerReferences: refs.filter((r) => r.uid !== uid), uid: pod.metadata?.uid },
        });
      } else if (!ref && matches(pod) && !owner.metadata?.deletionTimestamp && !pod.metadata?.deletionTimestamp) {
        const adopted = await client.mergePatch(path, {
          metadata: { ownerReferences: [...refs, ownerReference(owner, kind)], uid: pod.metadata?.uid },
        });
        claimed.push(adopted);
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return claimed;
}

/** Pods created at once, each its own request; the failures' count and the first failure. */
export async function createPods(
  client: KubeClient,
  pods: KObject[],
  created: (pod: KObject) => void,
): Promise<{ failed: number; error?: unknown }> {
  const results = await Promise.allSettled(
    pods.map((p) => client.create(collectionPath('v1', 'pods', p.metadata?.namespace), p)),
  );
  let failed = 0;
  let error: unknown;
  for (const r of results) {
    if (r.status === 'fulfilled') created(r.value);
    else {
      failed++;
      error ??= r.reason;
    }
  }
  return { failed, error };
}

/** Delete a pod; one already gone counts as deleted. */
export async function deletePod(client: KubeClient, pod: KObject): Promise<void> {
  await client
    .delete(`${collectionPath('v1', 'pods', pod.metadata?.namespace)}/${pod.metadata?.name}`)
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
}

/** The key of the controller of `pod` when it is of `kind`. */
export function ownerKeyOf(pod: KObject, kind: OwnerKind): string | undefined {
  const owner = controllerOf(pod);
  return owner?.kind === kind.kind && owner.apiVersion?.split('/')[0] === kind.apiVersion.split('/')[0]
    ? `${pod.metadata?.namespace}/${owner.name}`
    : undefined;
}

/**
 * Queue the controller of `kind` owning each pod the informer changes, telling its expectations of a
 * creation or deletion seen.
 */
export function queueOwnersOf(
  pods: Informer,
  kind: OwnerKind,
  queue: { add(key: string): void },
  expectations: Expectations,
): void {
  pods.on({
    add: (p) => {
      const key = ownerKeyOf(p, kind);
      if (!key) return;
      expectations.creationObserved(key);
      queue.add(key);
    },
    update: (_old, p) => {
      const key = ownerKeyOf(p, kind);
      if (key) queue.add(key);
    },
    delete: (p) => {
      const key = ownerKeyOf(p, kind);
      if (!key) return;
      expectations.deletionObserved(key, keyOf(p));
      queue.add(key);
    },
  });
}

export { keyOf };
