/**
 * The scheduler's cache, after kube-scheduler's: per node what its pods ask for, kept from the pod and
 * node informers, plus the pods the scheduler has *assumed* onto a node while their binding is in
 * flight, so the next decisions already count them. An assumed pod is confirmed when the informer shows
 * it bound, dropped if its binding fails, and expires if it is never seen.
 */
import { controllerOf, type KObject } from '../api/object.js';
import { isPodTerminal } from '../api/pod.js';
import {
  nodeInfoOf,
  podRequests,
  type NodeInfo,
  type PlacedPodView,
  type PodAffinityTerm,
  type Resources,
} from './framework.js';

const viewOf = (p: KObject): PlacedPodView => ({
  namespace: p.metadata?.namespace ?? 'default',
  name: p.metadata?.name ?? '',
  priority: Number((p.spec as { priority?: number } | undefined)?.priority ?? 0),
  requests: podRequests(p),
  labels: p.metadata?.labels ?? {},
  antiAffinity: (
    (
      p.spec as {
        affinity?: { podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] } };
      }
    )?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []
  ).filter((t) => t?.topologyKey),
});

/** How long an assumed pod whose binding succeeded may go unseen by the informer. */
export const ASSUME_TTL_MS = 30_000;

interface PlacedPod {
  node: string;
  view: PlacedPodView;
  requests: Resources;
  scoreRequests: Resources;
  owner?: string;
  /** Set while assumed: when the assumption lapses (Infinity while the binding is in flight). */
  assumedUntil?: number;
}

const countOwner = (n: NodeInfo, owner: string | undefined, sign: 1 | -1): void => {
  if (!owner) return;
  const count = (n.podsByOwner.get(owner) ?? 0) + sign;
  if (count > 0) n.podsByOwner.set(owner, count);
  else n.podsByOwner.delete(owner);
};
const add = (a: Resources, b: Resources, sign: 1 | -1): void => {
  a.cpu += sign * b.cpu;
  a.memory += sign * b.memory;
  a.pods += sign * b.pods;
};

const terminal = isPodTerminal;

export class SchedulerCache {
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly pods = new Map<string, PlacedPod>();
  /** Nodes in a stable order, rebuilt when nodes come or go. */
  private order: NodeInfo[] | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  nodeList(): NodeInfo[] {
    return (this.order ??= [...this.nodes.values()].sort((a, b) => a.name.localeCompare(b.name)));
  }

  node(name: string): NodeInfo | undefined {
    return this.nodes.get(name);
  }

  setNode(n: KObject): void {
    const name = n.metadata?.name;
    if (!name) return;
    const existing = this.nodes.get(name);
    const info = nodeInfoOf(n, existing);
    if (existing) {
      // Updated in place: the ordered node list holds this object (labels, taints and readiness change).
      Object.assign(existing, info);
      return;
    }
    // Pods placed before their node was seen.
    for (const p of this.pods.values())
      if (p.node === name) {
        add(info.requested, p.requests, 1);
        add(info.scoreRequested, p.scoreRequests, 1);
        countOwner(info, p.owner, 1);
      }
    this.order = undefined;
    this.nodes.set(name, info);
  }

  removeNode(name: string): void {
    if (this.nodes.delete(name)) this.order = undefined;
  }

  private place(key: string, placed: PlacedPod): void {
    this.unplace(key);
    this.pods.set(key, placed);
    const n = this.nodes.get(placed.node);
    if (n) {
      add(n.requested, placed.requests, 1);
      add(n.scoreRequested, placed.scoreRequests, 1);
      countOwner(n, placed.owner, 1);
      n.pods.set(key, placed.view);
      if (placed.view.antiAffinity.length) n.antiAffinityPods++;
    }
  }

  private unplace(key: string): void {
    const was = this.pods.get(key);
    if (!was) return;
    this.pods.delete(key);
    const n = this.nodes.get(was.node);
    if (n) {
      add(n.requested, was.requests, -1);
      add(n.scoreRequested, was.scoreRequests, -1);
      countOwner(n, was.owner, -1);
      n.pods.delete(key);
      if (was.view.antiAffinity.length) n.antiAffinityPods--;
    }
  }

  /** A pod as the informer shows it: counted on its node while bound and not finished. */
  setPod(key: string, p: KObject): void {
    const node = (p.spec as { nodeName?: string } | undefined)?.nodeName;
    if (!node || terminal(p)) {
      if (!this.pods.get(key)?.assumedUntil) this.unplace(key);
      return;
    }
    const was = this.pods.get(key);
    if (was && was.node === node && !was.assumedUntil) return;
    this.place(key, {
      node,
      view: viewOf(p),
      requests: podRequests(p),
      scoreRequests: podRequests(p, true),
      owner: controllerOf(p)?.uid,
    });
  }

  removePod(key: string): void {
    this.unplace(key);
  }

  /** Count a pod on `node` before its binding is seen. */
  assume(key: string, p: KObject, node: string): void {
    this.place(key, {
      node,
      view: viewOf(p),
      requests: podRequests(p),
      scoreRequests: podRequests(p, true),
      owner: controllerOf(p)?.uid,
      assumedUntil: Number.POSITIVE_INFINITY,
    });
  }

  /** The binding succeeded: the informer should show it soon; until then it stays counted. */
  finishBinding(key: string): void {
    const p = this.pods.get(key);
    if (p?.assumedUntil) p.assumedUntil = this.now() + ASSUME_TTL_MS;
  }

  /** The binding failed: the pod no longer counts. */
  forget(key: string): void {
    if (this.pods.get(key)?.assumedUntil) this.unplace(key);
  }

  /** Drop assumptions the informer never confirmed. */
  expire(): void {
    const t = this.now();
    for (const [key, p] of this.pods) if (p.assumedUntil !== undefined && p.assumedUntil < t) this.unplace(key);
  }

  isAssumed(key: string): boolean {
    return this.pods.get(key)?.assumedUntil !== undefined;
  }
}
