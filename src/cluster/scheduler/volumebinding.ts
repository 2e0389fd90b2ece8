/**
 * kube-scheduler's VolumeBinding plugin, made smaller: a pod's claims must exist; a bound claim's volume
 * must allow the node (its node affinity); an unbound claim whose class waits for the first consumer
 * needs, on the node, a free volume that fits or a provisioner to make one; an unbound claim of an
 * Immediate class makes the pod wait until it is bound. Before the pod is bound, each such waiting
 * claim is annotated with the chosen node (`volume.kubernetes.io/selected-node`), which the volume
 * controller binds or provisions for; the node's agent starts the pod once its claims are Bound.
 */
import type { KObject } from '../api/object.js';
import { bestVolume, claimClass, claimSpec, podClaimNames, SELECTED_NODE, volumeNodeTerms } from '../api/volume.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import {
  SKIP,
  type FilterPlugin,
  type FilterResult,
  type NodeInfo,
  type PodInfo,
  type PrepareResult,
} from './framework.js';
import { termMatches } from './nodematch.js';

const CYCLE_KEY = 'VolumeBinding';

/** What the cycle worked out about the pod's claims. */
interface ClaimState {
  /** A reason the pod fits no node at all. */
  refusal?: string;
  /** Volumes of the bound claims. */
  bound: KObject[];
  /** Unbound claims waiting for their first consumer. */
  waiting: KObject[];
}

const affinityAllows = (pv: KObject, node: NodeInfo): boolean => {
  const terms = volumeNodeTerms(pv);
  return !terms?.length || terms.some((t) => termMatches(t, node));
};

export class VolumeBinding implements FilterPlugin {
  readonly name = 'VolumeBinding';

  constructor(
    private readonly client: KubeClient,
    private readonly claims: Informer,
    private readonly volumes: Informer,
    private readonly classes: Informer,
  ) {}

  /** Call `fn` whenever claims, volumes or classes change (pods waiting on them may fit now). */
  onChange(fn: () => void): void {
    for (const i of [this.claims, this.volumes, this.classes]) i.on({ add: fn, update: fn, delete: fn });
  }

  prepare(pod: PodInfo): PrepareResult {
    const names = podClaimNames(pod.pod);
    if (!names.length) return SKIP;
    const state: ClaimState = { bound: [], waiting: [] };
    for (const name of names) {
      const claim = this.claims.get(`${pod.namespace}/${name}`);
      if (!claim) state.refusal ??= `persistentvolumeclaim "${name}" not found`;
      else if (claim.metadata?.deletionTimestamp) state.refusal ??= `persistentvolumeclaim "${name}" is being deleted`;
      else if (claimSpec(claim).volumeName) {
        const pv = this.volumes.get(claimSpec(claim).volumeName!);
        if (pv) state.bound.push(pv);
        else state.refusal ??= `persistentvolume "${claimSpec(claim).volumeName}" not found`;
      } else if (this.waitsForConsumer(claim)) state.waiting.push(claim);
      else state.refusal ??= 'pod has unbound immediate PersistentVolumeClaims';
    }
    pod.cycle.set(CYCLE_KEY, state);
    return undefined;
  }

  filter(pod: PodInfo, node: NodeInfo): FilterResult {
    const state = pod.cycle.get(CYCLE_KEY) as ClaimState | undefined;
    if (!state) return undefined;
    if (state.refusal) return state.refusal;
    if (!state.bound.every((pv) => affinityAllows(pv, node))) return 'node(s) had volume node affinity conflict';
    for (const claim of state.waiting) {
      if (this.provisionable(claim)) continue;
      if (!bestVolume(this.volumes.list(), claim, (pv) => affinityAllows(pv, node)))
        return "node(s) didn't find available persistent volumes to bind";
    }
    return undefined;
  }

  /** Name the chosen node on each claim waiting for its first consumer (kube-scheduler's PreBind). */
  async preBind(pod: KObject, node: string): Promise<void> {
    const ns = pod.metadata!.namespace!;
    for (const name of podClaimNames(pod)) {
      const claim = this.claims.get(`${ns}/${name}`);
      if (!claim || claimSpec(claim).volumeName || !this.waitsForConsumer(claim)) continue;
      if (claim.metadata?.annotations?.[SELECTED_NODE] === node) continue;
      await this.client.mergePatch(`${collectionPath('v1', 'persistentvolumeclaims', ns)}/${name}`, {
        metadata: { annotations: { [SELECTED_NODE]: node } },
      });
    }
  }

  private waitsForConsumer(claim: KObject): boolean {
    const className = claimClass(claim);
    return !!className && this.classes.get(className)?.volumeBindingMode === 'WaitForFirstConsumer';
  }

  private provisionable(claim: KObject): boolean {
    const provisioner = this.classes.get(claimClass(claim))?.provisioner;
    return typeof provisioner === 'string' && provisioner !== 'kubernetes.io/no-provisioner';
  }
}
