/**
 * What a pod needs done, decided from the pod and what the runtime has of it — a pure function, as the
 * kubelet's `computePodActions`: nothing is called, so every case is a unit test. The executor carries
 * the actions out; restarts of exited containers are the runtime's (its restart policy mirrors the
 * pod's), so an existing container, running or not, is left to it.
 */
import type { KObject } from '../api/object.js';
import { podSpec, podStatus } from '../api/pod.js';
import { SANDBOX, type RuntimeContainer } from './runtime.js';

export interface PodActions {
  /** The pod is being deleted: stop its containers within the grace period, remove them, delete it. */
  terminate?: { graceSeconds: number };
  /** The pod has no sandbox: make one (its containers join it). */
  createSandbox: boolean;
  /** Containers of the spec the runtime does not have, to create and start, in spec order. */
  start: string[];
  /** Ephemeral containers (`kubectl debug`) not started yet; once run they are never restarted. */
  startEphemeral?: string[];
}

/** The runtime's containers of one pod, by container name (the sandbox under `SANDBOX`). */
export type PodRuntimeState = Map<string, RuntimeContainer>;

export const runtimeState = (containers: RuntimeContainer[]): PodRuntimeState =>
  new Map(containers.map((c) => [c.name, c]));

export function computePodActions(pod: KObject, state: PodRuntimeState): PodActions {
  const spec = podSpec(pod);
  if (pod.metadata?.deletionTimestamp) {
    const graceSeconds = Number(pod.metadata.deletionGracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30);
    return { terminate: { graceSeconds }, createSandbox: false, start: [] };
  }
  const phase = podStatus(pod).phase;
  if (phase === 'Succeeded' || phase === 'Failed') return { createSandbox: false, start: [] };
  const missing = (cs: Array<{ name?: string }> | undefined): string[] =>
    (cs ?? []).map((c) => c.name ?? '').filter((name) => name && !state.has(name));
  const ephemeral = state.has(SANDBOX) ? missing(spec.ephemeralContainers) : [];
  return {
    createSandbox: !state.has(SANDBOX),
    start: missing(spec.containers),
    ...(ephemeral.length ? { startEphemeral: ephemeral } : {}),
  };
}
