/**
 * Carries out a pod's actions through the runtime: the sandbox (hostname, the cluster DNS for
 * ClusterFirst), each missing container with its image as its pull policy says (`imagepull`), environment and volumes from
 * `podconfig`, restart policy and limits; and termination — stop within the grace period, remove,
 * delete the pod for good. Problems a container cannot start with become its waiting reason.
 */
import type { Logger } from '../../common/log.js';
import { value, milliValue } from '../api/quantity.js';
import { StatusError } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { podSpec } from '../api/pod.js';
import type { Container } from '../api/types.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { PodActions, PodRuntimeState } from './actions.js';
import { CLUSTER_DOMAIN } from './dns.js';
import { ConfigError } from './configerror.js';
import { defaultPullPolicy, ImageError, ImagePuller, type PullPolicy } from './imagepull.js';
import type { ContainerSpec, PodConfig } from './podconfig.js';
import { LABEL, SANDBOX, type DnsConfig, type Runtime } from './runtime.js';
import type { Waiting } from './status.js';

export interface ExecutorOptions {
  nodeName: string;
  pauseImage: string;
  /** The cluster DNS address, when it runs. */
  nameserver: () => string | undefined;
}

/** How often a running pod's ConfigMap, Secret and projected volumes are looked at again. */
const VOLUME_REFRESH_MS = 30_000;

export class PodExecutor {
  private readonly refreshed = new Map<string, number>();
  /** Configuration errors already reported, so a waiting container is not reported every sync. */
  private readonly reported = new Set<string>();
  /** The attempt number of containers being replaced, by runtime name without the attempt. */
  readonly nextAttempt = new Map<string, number>();
  private readonly images: ImagePuller;

  constructor(
    private readonly client: KubeClient,
    private readonly runtime: Runtime,
    private readonly config: PodConfig,
    private readonly events: EventRecorder,
    private readonly o: ExecutorOptions,
    private readonly logger: Logger,
  ) {
    this.images = new ImagePuller(client, runtime, events);
  }

  private runtimeName(pod: KObject, container: string): string {
    const m = pod.metadata!;
    const stem = `k8s_${container}_${m.name}_${m.namespace}_${m.uid}`;
    return `${stem}_${this.nextAttempt.get(stem) ?? 0}`;
  }

  private labels(pod: KObject, container: string): Record<string, string> {
    const m = pod.metadata!;
    return {
      [LABEL.pod]: m.name!,
      [LABEL.namespace]: m.namespace!,
      [LABEL.uid]: m.uid!,
      [LABEL.container]: container,
      [LABEL.node]: this.o.nodeName,
    };
  }

  /** ClusterFirst (the default): the cluster DNS with Kubernetes' search path; Default: the host's. */
  private dns(pod: KObject): DnsConfig | undefined {
    const nameserver = this.o.nameserver();
    if ((podSpec(pod).dnsPolicy ?? 'ClusterFirst') !== 'ClusterFirst' || !nameserver) return undefined;
    const ns = pod.metadata!.namespace!;
    return {
      servers: [nameserver],
      search: [`${ns}.svc.${CLUSTER_DOMAIN}`, `svc.${CLUSTER_DOMAIN}`, CLUSTER_DOMAIN],
      options: ['ndots:5'],
    };
  }

  /** Make what `actions` asks for; answers why containers still wait. */
  async execute(pod: KObject, actions: PodActions, state: PodRuntimeState): Promise<Waiting> {
    const spec = podSpec(pod);
    const hostname = spec.hostname ?? pod.metadata!.name!;
    const dns = this.dns(pod);
    let waiting: Waiting = {};
    let sandboxId = state.get(SANDBOX)?.id;
    if (actions.createSandbox) {
      await this.images.ensure(this.o.pauseImage, 'IfNotPresent');
      sandboxId = await this.runtime.runSandbox({
        runtimeName: this.runtimeName(pod, SANDBOX),
        image: this.o.pauseImage,
        hostname,
        labels: this.labels(pod, SANDBOX),
        dns,
      });
    }
    if (!sandboxId) return waiting;
    let volumes: Awaited<ReturnType<PodConfig['volumes']>> | undefined;
    const toStart = [
      ...actions.start.map((name) => ({ name, list: 'containers' as const })),
      ...(actions.startEphemeral ?? []).map((name) => ({ name, list: 'ephemeralContainers' as const })),
    ];
    for (const { name, list } of toStart) {
      const c = ((spec[list] ?? []) as Array<Container & ContainerSpec>).find((x) => x.name === name) as
        (Container & ContainerSpec & { targetContainerName?: string }) | undefined;
      if (!c?.image) continue;
      const ephemeral = list === 'ephemeralContainers';
      const fieldPath = `spec.${list}{${name}}`;
      try {
        const policy = (c.imagePullPolicy as PullPolicy | undefined) ?? defaultPullPolicy(c.image);
        await this.images.ensure(c.image, policy, pod, fieldPath);
      } catch (err) {
        if (!(err instanceof ImageError)) throw err;
        waiting = { ...waiting, [name]: { reason: err.reason, message: err.message } };
        continue;
      }
      let env: string[];
      let binds: string[];
      try {
        volumes ??= await this.config.volumes(pod);
        env = await this.config.env(pod, c);
        binds = this.config.binds(c, volumes);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        waiting = { ...waiting, [name]: { reason: err.reason, message: err.message } };
        const once = `${pod.metadata!.uid}/${name}/${err.message}`;
        if (!this.reported.has(once)) {
          this.reported.add(once);
          this.events.record(pod, 'Warning', err.eventReason, `Error: ${err.message}`, fieldPath);
        }
        continue;
      }
      const limits = (c.resources?.limits ?? {}) as Record<string, unknown>;
      await this.runtime.runContainer({
        runtimeName: this.runtimeName(pod, name),
        sandboxId,
        image: c.image,
        hostname,
        command: c.command,
        args: c.args,
        env,
        workingDir: c.workingDir,
        labels: this.labels(pod, name),
        binds,
        // An ephemeral container runs once; with a target it sees that container's processes.
        restart:
          ephemeral || spec.restartPolicy === 'Never'
            ? 'no'
            : spec.restartPolicy === 'OnFailure'
              ? 'on-failure'
              : 'always',
        ...(limits.memory !== undefined ? { memoryBytes: value(limits.memory) } : {}),
        ...(limits.cpu !== undefined ? { nanoCpus: milliValue(limits.cpu) * 1e6 } : {}),
        dns,
        stdin: c.stdin,
        stdinOnce: c.stdinOnce,
        tty: c.tty,
        ...(ephemeral && c.targetContainerName && state.get(c.targetContainerName)
          ? { pidContainer: state.get(c.targetContainerName)!.id }
          : {}),
      });
      this.events.record(pod, 'Normal', 'Created', `Created container: ${name}`, fieldPath);
      this.events.record(pod, 'Normal', 'Started', `Started container ${name}`, fieldPath);
    }
    return waiting;
  }

  /** A pod marked for deletion: stop its containers within the grace period, remove them, delete the pod. */
  async terminate(pod: KObject, state: PodRuntimeState, graceSeconds: number): Promise<void> {
    const all = [...state.values()];
    const apps = all.filter((c) => c.name !== SANDBOX);
    for (const c of apps)
      if (c.state === 'running')
        this.events.record(pod, 'Normal', 'Killing', `Stopping container ${c.name}`, `spec.containers{${c.name}}`);
    await Promise.all(apps.map((c) => this.runtime.stop(c.id, graceSeconds)));
    await Promise.all(all.map((c) => this.runtime.remove(c.id)));
    this.forget(pod.metadata!.uid!);
    await this.client
      .delete(`${collectionPath('v1', 'pods', pod.metadata!.namespace)}/${pod.metadata!.name}`, {
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata!.uid },
      })
      .catch((err: unknown) => {
        if (!(err instanceof StatusError && (err.code === 404 || err.code === 409))) throw err;
      });
    this.logger.debug({ pod: pod.metadata!.name }, 'pod terminated');
  }

  /** Drop what is kept for a pod that is gone. */
  /**
   * Bring a running pod's written-out volumes up to date (ConfigMap and Secret changes, tokens near
   * their end), at most every `VOLUME_REFRESH_MS` per pod.
   */
  async refreshVolumes(pod: KObject): Promise<void> {
    const uid = pod.metadata!.uid!;
    const last = this.refreshed.get(uid) ?? 0;
    if (Date.now() - last < VOLUME_REFRESH_MS) return;
    this.refreshed.set(uid, Date.now());
    await this.config.refresh(pod);
  }

  forget(uid: string): void {
    this.refreshed.delete(uid);
    this.config.removePod(uid);
    this.images.forget(uid);
    for (const k of this.reported) if (k.startsWith(`${uid}/`)) this.reported.delete(k);
  }
}
