/**
 * The pod garbage collector, after Kubernetes' `pkg/controller/podgc`: every 20 s it force-deletes
 * pods bound to a node that no longer exists (checked again through the API after the node has been
 * missing for 40 s, so an informer's lag never costs a pod), pods being deleted that were never
 * scheduled (no agent will ever finish them), and the oldest finished pods beyond
 * `terminatedPodThreshold` (kube-controller-manager's `--terminated-pod-gc-threshold`, 12500).
 */
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { isPodTerminal, podSpec } from '../api/pod.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';

const CHECK_EVERY_MS = 20_000;
/** How long a node must be missing before its pods are collected (Kubernetes' quarantine). */
const QUARANTINE_MS = 40_000;
const KEY = 'podgc';

export class PodGarbageCollector {
  readonly queue = new WorkQueue();
  /** Names of nodes found missing, and since when. */
  private readonly missingSince = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    private readonly pods: Informer,
    private readonly nodes: Informer,
    private readonly logger: Logger,
    private readonly terminatedPodThreshold = 12_500,
  ) {}

  run(): Promise<void> {
    this.queue.add(KEY);
    return this.queue.run('podgc', () => this.sync(), this.logger, 1);
  }

  async sync(now = Date.now()): Promise<void> {
    this.queue.addAfter(KEY, CHECK_EVERY_MS);
    const pods = this.pods.list();
    const doomed: Array<[KObject, string]> = [];
    const gone = await this.missingNodes(pods, now);
    for (const p of pods) {
      const node = podSpec(p).nodeName;
      if (node && gone.has(node)) doomed.push([p, `its node ${node} no longer exists`]);
      else if (!node && p.metadata?.deletionTimestamp) doomed.push([p, 'it is being deleted and was never scheduled']);
    }
    const terminated = pods
      .filter((p) => isPodTerminal(p) && !doomed.some(([d]) => d === p))
      .sort((a, b) => String(a.metadata?.creationTimestamp).localeCompare(String(b.metadata?.creationTimestamp)));
    for (const p of terminated.slice(0, Math.max(0, terminated.length - this.terminatedPodThreshold)))
      doomed.push([p, `more than ${this.terminatedPodThreshold} finished pods`]);
    for (const [p, why] of doomed) {
      this.logger.info({ pod: `${p.metadata?.namespace}/${p.metadata?.name}`, why }, 'collecting pod');
      await this.client
        .delete(`${collectionPath('v1', 'pods', p.metadata?.namespace)}/${p.metadata?.name}`, {
          gracePeriodSeconds: 0,
          preconditions: { uid: p.metadata?.uid },
        })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
  }

  /** Nodes pods are bound to that have been missing for the quarantine, confirmed by a read. */
  private async missingNodes(pods: KObject[], now: number): Promise<Set<string>> {
    const bound = new Set(pods.map((p) => podSpec(p).nodeName).filter((n): n is string => !!n));
    const gone = new Set<string>();
    for (const name of this.missingSince.keys()) if (!bound.has(name)) this.missingSince.delete(name);
    for (const name of bound) {
      if (this.nodes.get(name)) {
        this.missingSince.delete(name);
        continue;
      }
      const since = this.missingSince.get(name) ?? now;
      this.missingSince.set(name, since);
      if (now - since < QUARANTINE_MS) continue;
      const exists = await this.client.request('GET', `/api/v1/nodes/${encodeURIComponent(name)}`).then(
        () => true,
        (err: unknown) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      );
      if (!exists) gone.add(name);
    }
    return gone;
  }
}
