/**
 * Storage object in-use protection (Kubernetes' `pkg/controller/volume/pvcprotection` and
 * `pvprotection`): a claim being deleted keeps its `kubernetes.io/pvc-protection` finalizer while a pod
 * that has not finished uses it, and a volume keeps `kubernetes.io/pv-protection` while it is Bound;
 * after that the finalizer goes and the deletion completes.
 */
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { phaseOf, podClaimNames, PV_PROTECTION, PVC_PROTECTION } from '../api/volume.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { BY_NAMESPACE, keyOf, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';

const CLAIM = 'claim:';
const VOLUME = 'volume:';

const finished = (pod: KObject): boolean => ['Succeeded', 'Failed'].includes(phaseOf(pod) ?? '');

export class VolumeProtectionController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly claims: Informer,
    private readonly volumes: Informer,
    private readonly pods: Informer,
    private readonly logger: Logger,
  ) {
    pods.addIndex(BY_NAMESPACE);
    claims.on({ add: (o) => this.queueClaim(o), update: (_old, o) => this.queueClaim(o) });
    volumes.on({ add: (o) => this.queueVolume(o), update: (_old, o) => this.queueVolume(o) });
    // A pod that finishes or goes may free the claims it used.
    const pod = (p: KObject): void => {
      for (const name of podClaimNames(p)) this.queue.add(`${CLAIM}${p.metadata?.namespace}/${name}`);
    };
    pods.on({ update: (_old, p) => finished(p) && pod(p), delete: pod });
  }

  private queueClaim(o: KObject): void {
    if (o.metadata?.deletionTimestamp) this.queue.add(CLAIM + keyOf(o));
  }

  private queueVolume(o: KObject): void {
    if (o.metadata?.deletionTimestamp) this.queue.add(VOLUME + keyOf(o));
  }

  run(): Promise<void> {
    return this.queue.run(
      'volume-protection',
      (key) =>
        key.startsWith(CLAIM) ? this.syncClaim(key.slice(CLAIM.length)) : this.syncVolume(key.slice(VOLUME.length)),
      this.logger,
    );
  }

  async syncClaim(key: string): Promise<void> {
    const claim = this.claims.get(key);
    if (!claim?.metadata?.deletionTimestamp || !claim.metadata.finalizers?.includes(PVC_PROTECTION)) return;
    const ns = claim.metadata.namespace!;
    const name = claim.metadata.name!;
    const uses = (p: KObject): boolean => !finished(p) && podClaimNames(p).includes(name);
    if (this.pods.byIndex(BY_NAMESPACE, ns).some(uses)) return;
    // The informer may lag a pod made a moment ago: ask the API server before letting go.
    const live = await this.client.list(collectionPath('v1', 'pods', ns));
    if (live.items.some(uses)) return;
    await this.removeFinalizer(`${collectionPath('v1', 'persistentvolumeclaims', ns)}/${name}`, claim, PVC_PROTECTION);
  }

  async syncVolume(name: string): Promise<void> {
    const volume = this.volumes.get(name);
    if (!volume?.metadata?.deletionTimestamp || !volume.metadata.finalizers?.includes(PV_PROTECTION)) return;
    if (phaseOf(volume) === 'Bound') return;
    await this.removeFinalizer(`${collectionPath('v1', 'persistentvolumes')}/${name}`, volume, PV_PROTECTION);
  }

  private async removeFinalizer(path: string, o: KObject, finalizer: string): Promise<void> {
    await this.client
      .update(path, {
        ...o,
        metadata: { ...o.metadata, finalizers: o.metadata!.finalizers!.filter((f) => f !== finalizer) },
      })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}
