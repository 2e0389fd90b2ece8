/**
 * PersistentVolumes and their claims as the binder, the scheduler and the agent see them: their fields,
 * which volume may serve which claim (Kubernetes' `findMatchingVolume` rules), and the annotations
 * they share.
 */
import type { KObject } from './object.js';
import { parseQuantity } from './quantity.js';
import { labelSelectorMatches, type LabelSelector } from './selector.js';
import type { NodeSelectorTerm } from '../scheduler/framework.js';

/** The node the scheduler chose for a claim waiting for its first consumer. */
export const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
/** The provisioner asked to make a claim's volume. */
export const STORAGE_PROVISIONER = 'volume.kubernetes.io/storage-provisioner';
/** The annotation that makes a StorageClass the default for claims that name none. */
export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';
export const PV_PROTECTION = 'kubernetes.io/pv-protection';
export const PVC_PROTECTION = 'kubernetes.io/pvc-protection';
export const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';
/** The built-in provisioner, its finalizer (held by the node agent until the directory is gone), and
 * the annotation naming the node whose agent owns the directory. */
export const LOCAL_PATH_PROVISIONER = 'gantry.io/local-path';
export const LOCAL_PATH_FINALIZER = 'gantry.io/local-path-cleanup';
export const LOCAL_PATH_NODE = 'gantry.io/local-path-node';
export const BIND_COMPLETED = 'pv.kubernetes.io/bind-completed';
export const BOUND_BY_CONTROLLER = 'pv.kubernetes.io/bound-by-controller';

export interface ClaimRef {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
}

export interface VolumeSpec {
  capacity?: { storage?: string };
  accessModes?: string[];
  persistentVolumeReclaimPolicy?: string;
  storageClassName?: string;
  volumeMode?: string;
  claimRef?: ClaimRef;
  hostPath?: { path: string; type?: string };
  local?: { path: string };
  nodeAffinity?: { required?: { nodeSelectorTerms?: NodeSelectorTerm[] } };
}

export interface ClaimSpec {
  accessModes?: string[];
  resources?: { requests?: { storage?: string } };
  storageClassName?: string;
  volumeName?: string;
  volumeMode?: string;
  selector?: LabelSelector;
}

export const volumeSpec = (pv: KObject): VolumeSpec => (pv.spec ?? {}) as VolumeSpec;
export const claimSpec = (pvc: KObject): ClaimSpec => (pvc.spec ?? {}) as ClaimSpec;
export const phaseOf = (o: KObject): string | undefined => (o.status as { phase?: string } | undefined)?.phase;

/** A claim's class: unset and empty both mean none once admission has run. */
export const claimClass = (pvc: KObject): string => claimSpec(pvc).storageClassName ?? '';

/** The storage a claim asks for, in bytes (0 when unreadable). */
export const requestedBytes = (pvc: KObject): number => parseQuantity(claimSpec(pvc).resources?.requests?.storage) ?? 0;

export const capacityBytes = (pv: KObject): number => parseQuantity(volumeSpec(pv).capacity?.storage) ?? 0;

/** Whether the volume's claimRef names this claim (by namespace and name, and uid when it has one). */
export function refersToClaim(pv: KObject, pvc: KObject): boolean {
  const ref = volumeSpec(pv).claimRef;
  return (
    !!ref &&
    ref.name === pvc.metadata?.name &&
    ref.namespace === pvc.metadata?.namespace &&
    (!ref.uid || ref.uid === pvc.metadata?.uid)
  );
}

/**
 * Whether `pv` may serve `pvc` regardless of nodes: free or pre-bound to it, not being deleted, of the
 * same class and volume mode, with every access mode asked and at least the size asked, and with the
 * labels the claim's selector asks.
 */
export function volumeFitsClaim(pv: KObject, pvc: KObject): boolean {
  const v = volumeSpec(pv);
  const c = claimSpec(pvc);
  if (pv.metadata?.deletionTimestamp) return false;
  if (v.claimRef ? !refersToClaim(pv, pvc) : phaseOf(pv) !== 'Available') return false;
  if ((v.storageClassName ?? '') !== claimClass(pvc)) return false;
  if ((v.volumeMode ?? 'Filesystem') !== (c.volumeMode ?? 'Filesystem')) return false;
  if (!(c.accessModes ?? []).every((m) => v.accessModes?.includes(m))) return false;
  if (capacityBytes(pv) < requestedBytes(pvc)) return false;
  return !c.selector || labelSelectorMatches(c.selector, pv.metadata?.labels ?? {});
}

/** The best volume for a claim: one pre-bound to it, else the smallest that fits (as Kubernetes picks). */
export function bestVolume(
  pvs: Iterable<KObject>,
  pvc: KObject,
  usable: (pv: KObject) => boolean,
): KObject | undefined {
  let best: KObject | undefined;
  for (const pv of pvs) {
    if (!volumeFitsClaim(pv, pvc) || !usable(pv)) continue;
    if (volumeSpec(pv).claimRef) return pv;
    if (!best || capacityBytes(pv) < capacityBytes(best)) best = pv;
  }
  return best;
}

/** The node-affinity terms of a volume (none: any node). */
export const volumeNodeTerms = (pv: KObject): NodeSelectorTerm[] | undefined =>
  volumeSpec(pv).nodeAffinity?.required?.nodeSelectorTerms;

/** The claims a pod's volumes name. */
export function podClaimNames(pod: KObject): string[] {
  const volumes = (pod.spec as { volumes?: Array<{ persistentVolumeClaim?: { claimName?: string } }> } | undefined)
    ?.volumes;
  const out: string[] = [];
  for (const v of volumes ?? []) if (v.persistentVolumeClaim?.claimName) out.push(v.persistentVolumeClaim.claimName);
  return out;
}
