/**
 * The status manager, after the kubelet's: a pod's status (phase, conditions, container states,
 * restart counts, IPs) computed from what the runtime reports, and written only when it differs from
 * the status the API has — so a quiet node makes no API writes.
 */
import { canonicalJson } from '../../common/canonical.js';
import { isNotFound } from '../api/errors.js';
import { nowRfc3339, type KObject } from '../api/object.js';
import { podSpec } from '../api/pod.js';
import type { Container } from '../api/types.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { PodRuntimeState } from './actions.js';
import type { Prober, Probe } from './prober.js';
import { SANDBOX, type ContainerDetails, type Runtime } from './runtime.js';

/** Why a container is not running yet, as the executor found it (`ErrImagePull`, ...). */
export type Waiting = Record<string, { reason: string; message?: string }>;

/** The attempt a runtime name ends with (`k8s_web_pod_ns_uid_2` is the third). */
export const attemptOf = (name: string): number => Number(/_(\d+)$/.exec(name)?.[1] ?? 0);

const iso = (t: string | undefined): string | undefined =>
  t && !t.startsWith('0001-') ? new Date(t).toISOString().replace(/\.\d+Z$/, 'Z') : undefined;

/** The status as written, without transition times (which only move when the status does). */
const comparable = (s: unknown): string =>
  canonicalJson(JSON.parse(JSON.stringify(s, (k, v: unknown) => (k === 'lastTransitionTime' ? undefined : v))));

export class StatusManager {
  constructor(
    private readonly client: KubeClient,
    private readonly runtime: Runtime,
    private readonly prober: Prober,
    private readonly nodeIp: string,
    private readonly podKey: (pod: KObject) => string,
  ) {}

  private containerState(
    details: ContainerDetails | undefined,
    waiting: Waiting[string] | undefined,
  ): Record<string, unknown> {
    if (!details) return { waiting: waiting ?? { reason: 'ContainerCreating' } };
    if (details.running) return { running: { startedAt: iso(details.startedAt) } };
    if (details.status === 'created') return { waiting: { reason: 'ContainerCreating' } };
    return {
      terminated: {
        exitCode: details.exitCode,
        reason: details.oomKilled ? 'OOMKilled' : details.exitCode === 0 ? 'Completed' : 'Error',
        startedAt: iso(details.startedAt),
        finishedAt: iso(details.finishedAt),
        containerID: `docker://${details.id}`,
      },
    };
  }

  async report(pod: KObject, state: PodRuntimeState, waiting: Waiting): Promise<void> {
    const meta = pod.metadata!;
    const spec = podSpec(pod);
    const sandbox = state.get(SANDBOX);
    const infra = sandbox ? await this.runtime.inspect(sandbox.id) : undefined;
    const statuses: Array<Record<string, unknown>> = [];
    for (const c of (spec.containers ?? []) as Container[]) {
      const found = state.get(c.name ?? '');
      const details = found ? await this.runtime.inspect(found.id) : undefined;
      if (details?.running)
        this.prober.watch(
          this.podKey(pod),
          details.id,
          infra?.ip,
          (c.ports ?? []) as Array<{ name?: string; containerPort: number }>,
          c.readinessProbe as Probe | undefined,
          c.livenessProbe as Probe | undefined,
        );
      const ready = !!details?.running && this.prober.ready(details.id, !!c.readinessProbe);
      statuses.push({
        name: c.name,
        image: c.image,
        imageID: details ? `docker-pullable://${details.imageId}` : '',
        ...(details ? { containerID: `docker://${details.id}` } : {}),
        ready,
        started: !!details?.running,
        restartCount: (details?.restartCount ?? 0) + (found ? attemptOf(found.runtimeName) : 0),
        state: this.containerState(details, waiting[c.name ?? '']),
      });
    }
    const ephemeral: Array<Record<string, unknown>> = [];
    for (const c of (spec.ephemeralContainers ?? []) as Container[]) {
      const found = state.get(c.name ?? '');
      const details = found ? await this.runtime.inspect(found.id) : undefined;
      ephemeral.push({
        name: c.name,
        image: c.image,
        imageID: details ? `docker-pullable://${details.imageId}` : '',
        ...(details ? { containerID: `docker://${details.id}` } : {}),
        ready: false,
        restartCount: 0,
        state: this.containerState(details, waiting[c.name ?? '']),
      });
    }
    const status = {
      ...this.podStatus(pod, statuses, infra),
      ...(ephemeral.length ? { ephemeralContainerStatuses: ephemeral } : {}),
    };
    if (comparable(pod.status ?? {}) === comparable(status)) return;
    await this.client
      .mergePatch(`${collectionPath('v1', 'pods', meta.namespace)}/${meta.name}/status`, { status })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }

  private podStatus(
    pod: KObject,
    statuses: Array<Record<string, unknown>>,
    infra: ContainerDetails | undefined,
  ): Record<string, unknown> {
    const spec = podSpec(pod);
    const running = statuses.filter((s) => 'running' in (s.state as object)).length;
    const readyCount = statuses.filter((s) => s.ready).length;
    const terminated = statuses
      .map((s) => (s.state as { terminated?: { exitCode: number } }).terminated)
      .filter((t) => !!t);
    const all = statuses.length;
    let phase = 'Pending';
    // OnFailure restarts a failed container: such a pod succeeds or keeps running, never fails.
    if (
      all &&
      terminated.length === all &&
      terminated.every((t) => t.exitCode === 0) &&
      spec.restartPolicy !== 'Always'
    )
      phase = 'Succeeded';
    else if (all && terminated.length === all && spec.restartPolicy === 'Never') phase = 'Failed';
    else if (running > 0 || (terminated.length && spec.restartPolicy === 'Always')) phase = 'Running';
    const ready = all > 0 && readyCount === all;
    const now = nowRfc3339();
    const prior = (pod.status ?? {}) as {
      conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }>;
      startTime?: string;
    };
    const condition = (type: string, ok: boolean): Record<string, unknown> => {
      const was = prior.conditions?.find((c) => c.type === type);
      const status = ok ? 'True' : 'False';
      return {
        type,
        status,
        lastProbeTime: null,
        lastTransitionTime: was?.status === status ? was.lastTransitionTime : now,
        ...(ok
          ? {}
          : {
              reason: 'ContainersNotReady',
              message: `containers with unready status: [${statuses
                .filter((s) => !s.ready)
                .map((s) => s.name)
                .join(' ')}]`,
            }),
      };
    };
    const ip = infra?.ip;
    return {
      phase,
      conditions: [
        condition('PodReadyToStartContainers', !!infra?.running),
        condition('Initialized', true),
        condition('Ready', ready),
        condition('ContainersReady', ready),
        condition('PodScheduled', true),
      ],
      hostIP: this.nodeIp,
      hostIPs: [{ ip: this.nodeIp }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: prior.startTime ?? now,
      containerStatuses: statuses,
      qosClass: 'BestEffort',
    };
  }
}
