/**
 * The PersistentVolume controller (Kubernetes' `pkg/controller/volume/persistentvolume`): binds each
 * claim to the best volume that fits it, or has a provisioner make one; keeps both sides' phases
 * (Pending, Available, Bound, Released, Lost); and reclaims a volume whose claim is gone (Retain keeps
 * it Released, Delete deletes it, its provisioner's finalizer freeing the storage). A claim whose class
 * binds `WaitForFirstConsumer` waits until the scheduler names the node its first pod goes to.
 *
 * Binding writes the volume's claimRef first, so no other claim can take it, then the claim's
 * volumeName: a crash between the two is completed by the next sync of either, as in Kubernetes.
 */
import type { Logger } from '../../common/log.js';
import { isAlreadyExists, isConflict, isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import {
  BIND_COMPLETED,
  BOUND_BY_CONTROLLER,
  bestVolume,
  claimClass,
  claimSpec,
  phaseOf,
  PROVISIONED_BY,
  refersToClaim,
  SELECTED_NODE,
  STORAGE_PROVISIONER,
  volumeNodeTerms,
  volumeSpec,
} from '../api/volume.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { keyOf, type Informer } from '../client/informer.js';
import { nodeInfoOf } from '../scheduler/framework.js';
import { termMatches } from '../scheduler/nodematch.js';
import { WorkQueue } from './controller.js';

const PV_PATH = collectionPath('v1', 'persistentvolumes');
const CLAIM = 'claim:';
const VOLUME = 'volume:';

/** A dynamic provisioner run inside the controller manager (Kubernetes' in-tree provisioning plugins). */
export interface Provisioner {
  readonly name: string;
  /** The PersistentVolume to create for `claim` of `storageClass`, on `node` when the class waits for one. */
  provision(claim: KObject, storageClass: KObject, node: string | undefined): KObject;
}

/** A provisioner's refusal, reported on the claim as a ProvisioningFailed event. */
export class ProvisioningError extends Error {}

export class PersistentVolumeController {
  readonly queue = new WorkQueue();
  /** The last event recorded per claim, so a claim re-synced while it waits is not reported again. */
  private readonly reported = new Map<string, string>();

  constructor(
    private readonly client: KubeClient,
    private readonly claims: Informer,
    private readonly volumes: Informer,
    private readonly classes: Informer,
    private readonly nodes: Informer,
    private readonly provisioners: Provisioner[],
    private readonly logger: Logger,
    private readonly events: EventRecorder,
  ) {
    const claim = (o: KObject): void => this.queue.add(CLAIM + keyOf(o));
    claims.on({
      add: claim,
      update: (_old, o) => claim(o),
      delete: (o) => {
        this.reported.delete(keyOf(o));
        const name = claimSpec(o).volumeName;
        if (name) this.queue.add(VOLUME + name);
      },
    });
    const volume = (o: KObject): void => {
      this.queue.add(VOLUME + keyOf(o));
      const ref = volumeSpec(o).claimRef;
      if (ref?.name) this.queue.add(`${CLAIM}${ref.namespace}/${ref.name}`);
    };
    volumes.on({ add: volume, update: (_old, o) => volume(o), delete: volume });
    // A class made after its claims lets them provision; free volumes may suit waiting claims.
    const pendingClaims = (): void => {
      for (const c of this.claims.list()) if (!claimSpec(c).volumeName) claim(c);
    };
    classes.on({ add: pendingClaims, update: pendingClaims });
  }

  run(): Promise<void> {
    return this.queue.run(
      'persistentvolume-binder',
      (key) =>
        key.startsWith(CLAIM) ? this.syncClaim(key.slice(CLAIM.length)) : this.syncVolume(key.slice(VOLUME.length)),
      this.logger,
    );
  }

  async syncClaim(key: string): Promise<void> {
    const claim = this.claims.get(key);
    if (!claim || claim.metadata?.deletionTimestamp) return;
    const name = claimSpec(claim).volumeName;
    if (name) return this.syncBoundClaim(claim, name);
    const className = claimClass(claim);
    const storageClass = className ? this.classes.get(className) : undefined;
    const waits = storageClass?.volumeBindingMode === 'WaitForFirstConsumer';
    const node = claim.metadata?.annotations?.[SELECTED_NODE];
    if (waits && !node)
      return this.report(
        claim,
        'Normal',
        'WaitForFirstConsumer',
        'waiting for first consumer to be created before binding',
      );
    const volume = bestVolume(this.volumes.list(), claim, (pv) => !node || this.volumeOnNode(pv, node));
    if (volume) return this.bind(claim, volume);
    if (!className)
      return this.report(
        claim,
        'Normal',
        'FailedBinding',
        'no persistent volumes available for this claim and no storage class is set',
      );
    if (!storageClass)
      return this.report(
        claim,
        'Warning',
        'ProvisioningFailed',
        `storageclass.storage.k8s.io "${className}" not found`,
      );
    const provisionerName = String(storageClass.provisioner ?? '');
    const provisioner = this.provisioners.find((p) => p.name === provisionerName);
    if (!provisioner) {
      await this.annotateProvisioner(claim, provisionerName);
      return this.report(
        claim,
        'Normal',
        'ExternalProvisioning',
        `Waiting for a volume to be created either by the external provisioner '${provisionerName}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`,
      );
    }
    await this.provision(claim, storageClass, provisioner, node);
  }

  /** A claim naming its volume: bind the volume to it if free, keep it Bound, or Lost if the volume went. */
  private async syncBoundClaim(claim: KObject, name: string): Promise<void> {
    const volume = this.volumes.get(name);
    const completed = claim.metadata?.annotations?.[BIND_COMPLETED] === 'yes';
    if (!volume || (volumeSpec(volume).claimRef && !refersToClaim(volume, claim))) {
      if (completed) {
        if (phaseOf(claim) !== 'Lost') {
          await this.writeClaimStatus(claim, { phase: 'Lost' });
          this.events.record(
            claim,
            'Warning',
            'ClaimLost',
            'Bound claim has lost reference to PersistentVolume. Data on the volume is lost!',
          );
        }
        return;
      }
      if (volume)
        this.report(claim, 'Warning', 'FailedBinding', `volume "${name}" already bound to a different claim.`);
      return;
    }
    return this.bind(claim, volume);
  }

  /** Bind both ways, writing only what is not already so. */
  private async bind(claim: KObject, volume: KObject): Promise<void> {
    const meta = claim.metadata!;
    const v = volumeSpec(volume);
    if (v.claimRef?.uid !== meta.uid) {
      volume = await this.client.update(`${PV_PATH}/${volume.metadata!.name}`, {
        ...volume,
        spec: {
          ...v,
          claimRef: {
            kind: 'PersistentVolumeClaim',
            namespace: meta.namespace,
            name: meta.name,
            uid: meta.uid,
            apiVersion: 'v1',
            resourceVersion: meta.resourceVersion,
          },
        },
      });
    }
    if (phaseOf(volume) !== 'Bound') await this.writeVolumeStatus(volume, { phase: 'Bound' });
    const claimPath = `${collectionPath('v1', 'persistentvolumeclaims', meta.namespace)}/${meta.name}`;
    if (claimSpec(claim).volumeName !== volume.metadata!.name || meta.annotations?.[BIND_COMPLETED] !== 'yes') {
      claim = await this.client.update(claimPath, {
        ...claim,
        metadata: {
          ...meta,
          annotations: {
            ...meta.annotations,
            [BIND_COMPLETED]: 'yes',
            ...(claimSpec(claim).volumeName ? {} : { [BOUND_BY_CONTROLLER]: 'yes' }),
          },
        },
        spec: { ...claimSpec(claim), volumeName: volume.metadata!.name },
      });
    }
    const want = {
      phase: 'Bound',
      accessModes: volumeSpec(volume).accessModes,
      capacity: volumeSpec(volume).capacity,
    };
    const have = (claim.status ?? {}) as Record<string, unknown>;
    if (have.phase !== 'Bound' || JSON.stringify(have.capacity) !== JSON.stringify(want.capacity))
      await this.writeClaimStatus(claim, want);
    this.reported.delete(keyOf(claim));
  }

  private async provision(
    claim: KObject,
    storageClass: KObject,
    provisioner: Provisioner,
    node: string | undefined,
  ): Promise<void> {
    let volume: KObject;
    try {
      volume = provisioner.provision(claim, storageClass, node);
    } catch (err) {
      if (!(err instanceof ProvisioningError)) throw err;
      return this.report(claim, 'Warning', 'ProvisioningFailed', err.message);
    }
    await this.annotateProvisioner(claim, provisioner.name);
    try {
      volume = await this.client.create(PV_PATH, volume);
    } catch (err) {
      // Made by an earlier sync that did not get to bind it: bind that one.
      if (!isAlreadyExists(err)) throw err;
      volume = await this.client.request('GET', `${PV_PATH}/${volume.metadata!.name}`);
    }
    this.events.record(
      claim,
      'Normal',
      'ProvisioningSucceeded',
      `Successfully provisioned volume ${volume.metadata!.name} using ${provisioner.name}`,
    );
    await this.bind(claim, volume);
  }

  async syncVolume(name: string): Promise<void> {
    const volume = this.volumes.get(name);
    if (!volume || volume.metadata?.deletionTimestamp) return;
    const ref = volumeSpec(volume).claimRef;
    if (!ref) {
      if (phaseOf(volume) !== 'Available') await this.writeVolumeStatus(volume, { phase: 'Available' });
      return;
    }
    const claim = this.claims.get(`${ref.namespace}/${ref.name}`);
    if (!ref.uid) {
      // Pre-bound by hand to a claim not bound yet: free until that claim's sync binds it.
      if (phaseOf(volume) !== 'Available') await this.writeVolumeStatus(volume, { phase: 'Available' });
      return;
    }
    if (claim && claim.metadata?.uid === ref.uid) {
      if (claimSpec(claim).volumeName === name && phaseOf(volume) !== 'Bound')
        await this.writeVolumeStatus(volume, { phase: 'Bound' });
      return;
    }
    // Its claim is gone: release it, then reclaim it by its policy.
    if (phaseOf(volume) !== 'Released' && phaseOf(volume) !== 'Failed')
      await this.writeVolumeStatus(volume, { phase: 'Released' });
    const policy = volumeSpec(volume).persistentVolumeReclaimPolicy ?? 'Retain';
    if (policy === 'Retain') return;
    const provisioned = this.provisioners.some((p) => volume.metadata?.annotations?.[PROVISIONED_BY] === p.name);
    if (policy === 'Delete' && provisioned) {
      await this.client
        .delete(`${PV_PATH}/${name}`, { preconditions: { uid: volume.metadata!.uid } })
        .catch((err: unknown) => {
          if (!isNotFound(err) && !isConflict(err)) throw err;
        });
      return;
    }
    const message =
      policy === 'Delete'
        ? `error getting deleter volume plugin for volume "${name}": no deletable volume plugin matched`
        : `no volume plugin matched for recycling volume "${name}"`;
    if (phaseOf(volume) !== 'Failed') {
      await this.writeVolumeStatus(volume, { phase: 'Failed', message });
      this.events.record(
        volume,
        'Warning',
        policy === 'Delete' ? 'VolumeFailedDelete' : 'VolumeFailedRecycle',
        message,
      );
    }
  }

  /** Whether a volume may be used on `node` (by its node affinity; none: anywhere). */
  private volumeOnNode(pv: KObject, node: string): boolean {
    const terms = volumeNodeTerms(pv);
    if (!terms?.length) return true;
    const n = this.nodes.get(node);
    if (!n) return false;
    const info = nodeInfoOf(n);
    return terms.some((t) => termMatches(t, info));
  }

  private async annotateProvisioner(claim: KObject, name: string): Promise<void> {
    if (claim.metadata?.annotations?.[STORAGE_PROVISIONER] === name) return;
    const meta = claim.metadata!;
    await this.client.mergePatch(`${collectionPath('v1', 'persistentvolumeclaims', meta.namespace)}/${meta.name}`, {
      metadata: {
        annotations: { [STORAGE_PROVISIONER]: name, 'volume.beta.kubernetes.io/storage-provisioner': name },
      },
    });
  }

  private async writeClaimStatus(claim: KObject, status: Record<string, unknown>): Promise<void> {
    const meta = claim.metadata!;
    await this.client.update(`${collectionPath('v1', 'persistentvolumeclaims', meta.namespace)}/${meta.name}/status`, {
      ...claim,
      status: { ...claim.status, ...status },
    });
  }

  private async writeVolumeStatus(volume: KObject, status: Record<string, unknown>): Promise<void> {
    await this.client.update(`${PV_PATH}/${volume.metadata!.name}/status`, { ...volume, status });
  }

  /** Record an event about a waiting claim once for each new reason. */
  private report(claim: KObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const key = keyOf(claim);
    if (this.reported.get(key) === reason + message) return;
    this.reported.set(key, reason + message);
    this.events.record(claim, type, reason, message);
  }
}
