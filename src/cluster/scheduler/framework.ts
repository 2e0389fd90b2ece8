/**
 * The scheduling framework, after kube-scheduler's (`pkg/scheduler/framework`): a pod and the nodes
 * as plugins see them, and the two extension points Gantry uses — Filter (may this node take the pod?)
 * and Score (how good is it, 0..100). What a pod needs is read once when it enters the queue.
 */
import { milliValue, value } from '../api/quantity.js';
import { controllerOf, type KObject } from '../api/object.js';
import { isNodeReady } from '../api/pod.js';
import type { LabelSelector } from '../api/selector.js';

export interface Resources {
  /** Millicores. */
  cpu: number;
  /** Bytes. */
  memory: number;
  pods: number;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  /** For NoExecute: how long the pod may stay once the taint is added (forever when unset). */
  tolerationSeconds?: number;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

export interface PodInfo {
  key: string;
  pod: KObject;
  /** What the pod asks for (what fits must hold). */
  requests: Resources;
  /** Requests with kube-scheduler's defaults for containers that ask for nothing (100m, 200Mi): for scores. */
  scoreRequests: Resources;
  nodeSelector: Record<string, string>;
  /** Required node affinity: the node must match one term. */
  affinityTerms: NodeSelectorTerm[];
  tolerations: Toleration[];
  priority: number;
  /** The UID of the pod's controller (its ReplicaSet, ...), whose pods the default spreading spreads. */
  owner?: string;
  namespace: string;
  labels: Record<string, string>;
  /** Preferred node affinity: a node matching a preference scores its weight. */
  preferredNodeTerms: Array<{ weight: number; preference: NodeSelectorTerm }>;
  podAffinity: PodAffinityRules;
  podAntiAffinity: PodAffinityRules;
  /** The labels of a namespace (affinity terms' `namespaceSelector`); undefined when it is not known. */
  namespaceLabels: (namespace: string) => Record<string, string> | undefined;
  /** Per scheduling attempt, what plugins' `prepare` worked out (kube-scheduler's CycleState). */
  cycle: Map<string, unknown>;
}

export interface PodAffinityTerm {
  labelSelector?: LabelSelector;
  namespaces?: string[];
  /** `{}` selects every namespace. */
  namespaceSelector?: LabelSelector;
  topologyKey: string;
}

export interface PodAffinityRules {
  required: PodAffinityTerm[];
  preferred: Array<{ weight: number; podAffinityTerm: PodAffinityTerm }>;
}

/** What affinity rules and preemption need of a pod on a node. */
export interface PlacedPodView {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  antiAffinity: PodAffinityTerm[];
  /** For preemption: who may be evicted for whom, and what that frees. */
  priority: number;
  requests: Resources;
}

export interface NodeInfo {
  name: string;
  node: KObject;
  labels: Record<string, string>;
  taints: Taint[];
  unschedulable: boolean;
  ready: boolean;
  allocatable: Resources;
  /** What the pods on the node (bound or assumed) ask for. */
  requested: Resources;
  /** The same with kube-scheduler's non-zero defaults, for scores. */
  scoreRequested: Resources;
  /** How many of the node's pods each controller (by UID) has. */
  podsByOwner: Map<string, number>;
  /** The node's pods (bound or assumed), for inter-pod affinity. */
  pods: Map<string, PlacedPodView>;
  /** How many of them have required anti-affinity terms. */
  antiAffinityPods: number;
}

const zero = (): Resources => ({ cpu: 0, memory: 0, pods: 0 });

/** A node as the plugins see it; what its pods ask for is carried over from `existing` (none: nothing). */
export function nodeInfoOf(n: KObject, existing?: NodeInfo): NodeInfo {
  const alloc = (n.status?.allocatable ?? n.status?.capacity ?? {}) as Record<string, unknown>;
  return {
    name: n.metadata?.name ?? '',
    node: n,
    labels: n.metadata?.labels ?? {},
    taints: ((n.spec as { taints?: Taint[] } | undefined)?.taints ?? []).filter((t) => t && t.key),
    unschedulable: !!(n.spec as { unschedulable?: boolean } | undefined)?.unschedulable,
    ready: isNodeReady(n),
    allocatable: {
      cpu: alloc.cpu === undefined ? Number.MAX_SAFE_INTEGER : milliValue(alloc.cpu),
      memory: alloc.memory === undefined ? Number.MAX_SAFE_INTEGER : value(alloc.memory),
      pods: alloc.pods === undefined ? 110 : value(alloc.pods),
    },
    requested: existing?.requested ?? zero(),
    scoreRequested: existing?.scoreRequested ?? zero(),
    podsByOwner: existing?.podsByOwner ?? new Map(),
    pods: existing?.pods ?? new Map(),
    antiAffinityPods: existing?.antiAffinityPods ?? 0,
  };
}

/** Why a node cannot take a pod, worded as kube-scheduler words it in `FailedScheduling`. */
export type FilterResult = string | undefined;

/**
 * kube-scheduler's Skip status from PreFilter and PreScore: the plugin has nothing to say about this pod
 * (every node passes its filter, or every feasible node gets the same score, which moves no ranking), so
 * the attempt leaves it out rather than asking it about each node.
 */
export const SKIP = 'skip';
export type PrepareResult = typeof SKIP | undefined;

export interface FilterPlugin {
  name: string;
  /**
   * Work once per scheduling attempt over every node, kept in `pod.cycle` (kube-scheduler's PreFilter).
   * `SKIP` may only be answered when `filter` would pass every node: preemption still asks it.
   */
  prepare?(pod: PodInfo, nodes: NodeInfo[]): PrepareResult;
  filter(pod: PodInfo, node: NodeInfo): FilterResult;
}

/** Work before the binding is sent (kube-scheduler's PreBind): a failure sends the pod back to the queue. */
export interface PreBindPlugin {
  name: string;
  preBind(pod: KObject, node: string): Promise<void>;
}

export interface ScorePlugin {
  name: string;
  weight: number;
  /** Once per attempt over the feasible nodes (kube-scheduler's PreScore); `SKIP` when all would score alike. */
  prepare?(pod: PodInfo, feasible: NodeInfo[]): PrepareResult;
  score(pod: PodInfo, node: NodeInfo): number;
  /** kube-scheduler's NormalizeScore: the raw scores of every feasible node, mapped onto 0-100. */
  normalize?(raw: number[]): number[];
}

const DEFAULT_CPU_MILLI = 100;
const DEFAULT_MEMORY = 200 * 1024 * 1024;

type Container = { resources?: { requests?: Record<string, unknown> } };

/** A pod's requests: its containers' sum, or an init container's if larger, plus the pod's overhead. */
export function podRequests(pod: KObject, nonZero = false): Resources {
  const spec = (pod.spec ?? {}) as {
    containers?: Container[];
    initContainers?: Container[];
    overhead?: Record<string, unknown>;
  };
  const of = (c: Container): { cpu: number; memory: number } => {
    const r = c.resources?.requests ?? {};
    const cpu = milliValue(r.cpu);
    const memory = value(r.memory);
    return {
      cpu: nonZero && r.cpu === undefined ? DEFAULT_CPU_MILLI : cpu,
      memory: nonZero && r.memory === undefined ? DEFAULT_MEMORY : memory,
    };
  };
  let cpu = 0;
  let memory = 0;
  for (const c of spec.containers ?? []) {
    const r = of(c);
    cpu += r.cpu;
    memory += r.memory;
  }
  for (const c of spec.initContainers ?? []) {
    const r = of(c);
    cpu = Math.max(cpu, r.cpu);
    memory = Math.max(memory, r.memory);
  }
  return { cpu: cpu + milliValue(spec.overhead?.cpu), memory: memory + value(spec.overhead?.memory), pods: 1 };
}

type RawAffinity = {
  requiredDuringSchedulingIgnoredDuringExecution?: unknown;
  preferredDuringSchedulingIgnoredDuringExecution?: unknown;
};

function affinityRules(raw: RawAffinity | undefined): PodAffinityRules {
  const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
  return {
    required: list<PodAffinityTerm>(raw?.requiredDuringSchedulingIgnoredDuringExecution).filter((t) => t?.topologyKey),
    preferred: list<{ weight: number; podAffinityTerm: PodAffinityTerm }>(
      raw?.preferredDuringSchedulingIgnoredDuringExecution,
    ).filter((t) => t?.podAffinityTerm?.topologyKey),
  };
}

export function podInfo(
  key: string,
  pod: KObject,
  namespaceLabels: PodInfo['namespaceLabels'] = () => undefined,
): PodInfo {
  const spec = (pod.spec ?? {}) as {
    nodeSelector?: Record<string, string>;
    tolerations?: Toleration[];
    priority?: number;
    affinity?: {
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] };
        preferredDuringSchedulingIgnoredDuringExecution?: Array<{ weight: number; preference: NodeSelectorTerm }>;
      };
      podAffinity?: RawAffinity;
      podAntiAffinity?: RawAffinity;
    };
  };
  return {
    key,
    pod,
    requests: podRequests(pod),
    scoreRequests: podRequests(pod, true),
    nodeSelector: spec.nodeSelector ?? {},
    affinityTerms: spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [],
    tolerations: spec.tolerations ?? [],
    priority: typeof spec.priority === 'number' ? spec.priority : 0,
    owner: controllerOf(pod)?.uid,
    namespace: pod.metadata?.namespace ?? 'default',
    labels: pod.metadata?.labels ?? {},
    preferredNodeTerms: spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [],
    podAffinity: affinityRules(spec.affinity?.podAffinity),
    podAntiAffinity: affinityRules(spec.affinity?.podAntiAffinity),
    namespaceLabels,
    cycle: new Map(),
  };
}
