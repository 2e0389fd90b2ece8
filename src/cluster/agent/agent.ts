/**
 * The node agent (Gantry's kubelet and kube-proxy): registers its Node, keeps it and its Lease fresh,
 * keeps the service rules (`proxy`), and runs the pods bound to it through the engine's Docker API, as
 * dockershim did:
 * - each pod gets an infrastructure container that holds its network namespace (so the pod has one IP
 *   on the engine's bridge), and each of its containers joins that namespace;
 * - containers are named and labelled `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>` /
 *   `io.kubernetes.*`, so the agent finds its containers again after a restart of itself or the engine;
 * - restartPolicy maps onto the engine's restart policy, resource limits onto its cgroup limits;
 * - the pod's status (phase, conditions, container states, IPs) is written back from `inspect`;
 * - a pod marked for deletion is stopped within its grace period, its containers removed, then the pod
 *   is deleted for good; containers of this node's pods that no longer exist are removed (the engine
 *   may be shared with other users and other agents: only containers labelled for this node count).
 */
import { isNotFound } from '../api/errors.js';
import os from 'node:os';
import { canonicalJson } from '../../common/canonical.js';
import type { Logger } from '../../common/log.js';
import { ApiError as EngineError, type ApiClient as EngineClient } from '../../api/docker/client.js';
import type { KObject } from '../api/object.js';
import { ApiStatusError, collectionPath, type ApiClient } from '../client/client.js';
import { keyOf, Informer } from '../client/informer.js';
import { WorkQueue } from '../controllers/controller.js';
import type { Server } from 'node:https';
import { EventRecorder } from '../client/events.js';
import { ClusterDns, CLUSTER_DOMAIN } from './dns.js';
import { ConfigError, PodConfig, type ContainerSpec } from './podconfig.js';
import { PodNetwork } from './podnetwork.js';
import { Prober, type Probe } from './prober.js';
import { ServiceProxy } from './proxy.js';
import { startAgentServer } from './server.js';

export interface AgentOptions {
  nodeName: string;
  /** The image of the infrastructure container; it runs `sleep` under the engine's init. */
  pauseImage: string;
  /** The address the Node reports (InternalIP). */
  nodeIp: string;
  /** The port of the agent's HTTPS endpoint (logs for the API server). */
  port: number;
  /** Where the agent keeps its certificates and pod volumes. */
  dataDir: string;
  /** The cluster CA, which signs the API server's client certificate. */
  ca: string;
  /** The certificate of the agent's HTTPS endpoint, signed by the cluster CA (see credentials). */
  serving: { cert: string; key: string };
  /** The port of the cluster DNS on the node's address. */
  dnsPort: number;
}

const HEARTBEAT_MS = 10_000;
const RESYNC_MS = 2_000;
const LABEL = {
  pod: 'io.kubernetes.pod.name',
  namespace: 'io.kubernetes.pod.namespace',
  uid: 'io.kubernetes.pod.uid',
  container: 'io.kubernetes.container.name',
  node: 'io.gantry.node',
};
const INFRA = 'POD';

interface EngineContainer {
  Id: string;
  Names: string[];
  Labels: Record<string, string>;
  State: string;
}

interface Inspect {
  Id: string;
  Image: string;
  State: {
    Running: boolean;
    ExitCode: number;
    StartedAt: string;
    FinishedAt: string;
    Status: string;
    Error?: string;
    OOMKilled?: boolean;
  };
  RestartCount: number;
  NetworkSettings?: { IPAddress?: string; Networks?: Record<string, { IPAddress?: string }> };
  Config: { Image: string };
}

type Container = ContainerSpec & {
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  resources?: { limits?: Record<string, string> };
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
};
type PodSpec = {
  containers?: Container[];
  restartPolicy?: string;
  nodeName?: string;
  terminationGracePeriodSeconds?: number;
  hostname?: string;
  dnsPolicy?: string;
};

/** The attempt a container name ends with (`k8s_web_pod_ns_uid_2` is the third). */
const attemptOf = (name: string): number => Number(/_(\d+)$/.exec(name)?.[1] ?? 0);

const iso = (t: string | undefined): string | undefined =>
  t && !t.startsWith('0001-') ? new Date(t).toISOString().replace(/\.\d+Z$/, 'Z') : undefined;

/** Kubernetes quantities to bytes and CPUs: `128Mi`, `1G`, `500m`, `2`. */
export function quantity(q: string): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  const units: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    K: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
  };
  return m[2]! in units ? n * units[m[2]!]! : NaN;
}

export class NodeAgent {
  private readonly pods: Informer;
  private readonly services: Informer;
  private readonly endpoints: Informer;
  private readonly proxy: ServiceProxy;
  private readonly dns: ClusterDns;
  private readonly config: PodConfig;
  private readonly podNetwork: PodNetwork;
  private readonly prober: Prober;
  private readonly events: EventRecorder;
  /** Configuration errors already reported, so a waiting container is not reported every resync. */
  private readonly reported = new Set<string>();
  private readonly queue = new WorkQueue();
  private timers: NodeJS.Timeout[] = [];
  /** The attempt number of containers being replaced, by name without the attempt. */
  private readonly nextAttempt = new Map<string, number>();
  private endpoint?: Server;

  constructor(
    private readonly client: ApiClient,
    private readonly engine: EngineClient,
    private readonly o: AgentOptions,
    private readonly logger: Logger,
  ) {
    this.pods = new Informer(client, '/api/v1/pods', logger, { fieldSelector: `spec.nodeName=${o.nodeName}` });
    this.pods.on({
      add: (p) => this.queue.add(keyOf(p)),
      update: (_o, p) => this.queue.add(keyOf(p)),
      delete: () => this.queue.add(''),
    });
    this.services = new Informer(client, '/api/v1/services', logger);
    this.endpoints = new Informer(client, '/api/v1/endpoints', logger);
    this.proxy = new ServiceProxy(this.services, this.endpoints, logger);
    this.config = new PodConfig(client, o.dataDir);
    this.podNetwork = new PodNetwork(client, engine, o.nodeName, logger);
    this.events = new EventRecorder(client, 'kubelet', logger, o.nodeName);
    this.prober = new Prober(
      engine,
      logger,
      (key) => this.queue.add(key),
      (key, id) => void this.replace(key, id),
    );
    this.dns = new ClusterDns(
      client,
      this.services,
      this.endpoints,
      { address: o.nodeIp, port: o.dnsPort, nodeName: o.nodeName },
      logger,
    );
  }

  async start(): Promise<void> {
    this.endpoint = await startAgentServer({
      port: this.o.port,
      ca: this.o.ca,
      serving: this.o.serving,
      engine: this.engine,
      logger: this.logger,
      containerOf: (ns, pod, c) => this.containerId(ns, pod, c),
    });
    await this.register();
    await this.podNetwork
      .ensure()
      .catch((err: unknown) =>
        this.logger.error({ err: String(err) }, 'pod network not made; pods use the engine default bridge'),
      );
    for (const i of [this.pods, this.services, this.endpoints]) i.start();
    await Promise.all([this.pods, this.services, this.endpoints].map((i) => i.waitForSync()));
    this.proxy.sync();
    // Pods still run without the cluster DNS (say, port 53 taken on this address); they fall back to the host's.
    await this.dns.start().catch((err: unknown) => this.logger.error({ err: String(err) }, 'cluster DNS not started'));
    void this.queue.run('node-agent', (key) => (key ? this.syncPod(key) : this.removeOrphans()), this.logger, 4);
    this.timers.push(
      setInterval(
        () =>
          void this.heartbeat().catch((err: unknown) =>
            this.logger.warn({ err: String(err) }, 'node heartbeat failed'),
          ),
        HEARTBEAT_MS,
      ),
    );
    // Container states change without pod events (exits, restarts): look again regularly.
    this.timers.push(
      setInterval(() => {
        for (const p of this.pods.list()) this.queue.add(keyOf(p));
        this.queue.add('');
      }, RESYNC_MS),
    );
    this.logger.info({ node: this.o.nodeName }, 'node agent started');
  }

  /** Stop; the service rules go too, as pods' addresses are no longer kept up to date. */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.queue.stop();
    for (const i of [this.pods, this.services, this.endpoints]) i.stop();
    this.proxy.stop();
    void this.dns.stop();
    this.endpoint?.close();
    ServiceProxy.cleanup();
  }

  /**
   * A container that failed its liveness probe is removed and made again as the next attempt (its name
   * ends with the attempt, which restartCount reports), as the kubelet does.
   */
  private async replace(podKey: string, containerId: string): Promise<void> {
    const info = await this.engine
      .json<{ Name: string; Config: { Labels: Record<string, string> } }>('GET', `/containers/${containerId}/json`)
      .catch(() => undefined);
    if (!info) return;
    const pod = this.pods.get(podKey);
    const name = info.Config.Labels[LABEL.container];
    if (pod)
      this.events.record(
        pod,
        'Normal',
        'Killing',
        `Container ${name} failed liveness probe, will be restarted`,
        `spec.containers{${name}}`,
      );
    this.nextAttempt.set(info.Name.replace(/^\/|_\d+$/g, ''), attemptOf(info.Name) + 1);
    await this.engine.call('DELETE', `/containers/${containerId}`, { query: { force: 1 } }).catch(() => undefined);
    this.queue.add(podKey);
  }

  /** The engine container of one of this node's pods' containers. */
  private async containerId(ns: string, pod: string, container: string): Promise<string | undefined> {
    const p = this.pods.get(`${ns}/${pod}`);
    if (!p) return undefined;
    return (await this.containersOf(p.metadata!.uid!)).find((c) => c.Labels[LABEL.container] === container)?.Id;
  }

  private nodeStatus(): Record<string, unknown> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const capacity = {
      cpu: String(os.cpus().length),
      memory: `${Math.floor(os.totalmem() / 1024)}Ki`,
      pods: '110',
      'ephemeral-storage': '0',
    };
    const condition = (type: string, status: string, reason: string, message: string): Record<string, unknown> => ({
      type,
      status,
      lastHeartbeatTime: now,
      lastTransitionTime: now,
      reason,
      message,
    });
    return {
      capacity,
      allocatable: capacity,
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: this.o.nodeIp },
        { type: 'Hostname', address: this.o.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.o.port } },
      nodeInfo: {
        kubeletVersion: 'v1.33.0-gantry',
        kubeProxyVersion: '',
        containerRuntimeVersion: 'gantry://0.1.0',
        operatingSystem: 'linux',
        architecture: process.arch === 'x64' ? 'amd64' : process.arch,
        osImage: 'Debian GNU/Linux',
        kernelVersion: os.release(),
        machineID: '',
        systemUUID: '',
        bootID: '',
      },
    };
  }

  private async register(): Promise<void> {
    const labels = {
      'kubernetes.io/hostname': this.o.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
      'node-role.kubernetes.io/control-plane': 'true',
    };
    try {
      await this.client.create(collectionPath('v1', 'nodes'), {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: this.o.nodeName, labels },
      });
    } catch (err) {
      if (!(err instanceof ApiStatusError && err.code === 409)) throw err;
    }
    await this.heartbeat();
  }

  private async heartbeat(): Promise<void> {
    await this.client.mergePatch(`${collectionPath('v1', 'nodes')}/${this.o.nodeName}/status`, {
      status: this.nodeStatus(),
    });
    const lease = `${collectionPath('coordination.k8s.io/v1', 'leases', 'kube-node-lease')}/${this.o.nodeName}`;
    const spec = {
      holderIdentity: this.o.nodeName,
      leaseDurationSeconds: 40,
      renewTime: new Date()
        .toISOString()
        .replace('Z', '000Z')
        .replace(/(\.\d{6})\d*Z$/, '$1Z'),
    };
    try {
      await this.client.mergePatch(lease, { spec });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.create(collectionPath('coordination.k8s.io/v1', 'leases', 'kube-node-lease'), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.nodeName, namespace: 'kube-node-lease' },
        spec,
      });
    }
  }

  private async containersOf(uid: string): Promise<EngineContainer[]> {
    return this.engine.json<EngineContainer[]>('GET', '/containers/json', {
      query: { all: 1, filters: JSON.stringify({ label: [`${LABEL.uid}=${uid}`] }) },
    });
  }

  private async inspect(id: string): Promise<Inspect | undefined> {
    try {
      return await this.engine.json<Inspect>('GET', `/containers/${id}/json`);
    } catch {
      return undefined;
    }
  }

  private async ensureImage(image: string, pod?: KObject, container?: string): Promise<void> {
    try {
      await this.engine.call('GET', `/images/${encodeURIComponent(image)}/json`);
      return;
    } catch (err) {
      if (!(err instanceof EngineError && err.status === 404)) throw err;
    }
    const fieldPath = container ? `spec.containers{${container}}` : undefined;
    if (pod) this.events.record(pod, 'Normal', 'Pulling', `Pulling image "${image}"`, fieldPath);
    const [name, tag] = /^(.*?)(?::([^:/@]+))?$/.exec(image)!.slice(1) as [string, string | undefined];
    const res = await this.engine.stream('POST', '/images/create', {
      query: { fromImage: name, tag: tag ?? 'latest' },
    });
    let text = '';
    for await (const c of res) text += (c as Buffer).toString();
    const failed = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { error?: string })
      .find((m) => m.error);
    if (failed) {
      if (pod)
        this.events.record(pod, 'Warning', 'Failed', `Failed to pull image "${image}": ${failed.error}`, fieldPath);
      throw new Error(`pulling ${image}: ${failed.error}`);
    }
    if (pod) this.events.record(pod, 'Normal', 'Pulled', `Successfully pulled image "${image}"`, fieldPath);
  }

  private async createContainer(name: string, body: Record<string, unknown>): Promise<string> {
    const created = await this.engine.json<{ Id: string }>('POST', '/containers/create', { query: { name }, body });
    await this.engine.call('POST', `/containers/${created.Id}/start`);
    return created.Id;
  }

  private async syncPod(key: string): Promise<void> {
    const pod = this.pods.get(key);
    if (!pod) return;
    const meta = pod.metadata!;
    const spec = (pod.spec ?? {}) as PodSpec;
    const existing = await this.containersOf(meta.uid!);
    if (meta.deletionTimestamp) return this.terminate(pod, existing);
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const base = (c: string): string => {
      const stem = `k8s_${c}_${meta.name}_${meta.namespace}_${meta.uid}`;
      return `${stem}_${this.nextAttempt.get(stem) ?? 0}`;
    };
    const labels = (c: string): Record<string, string> => ({
      [LABEL.pod]: meta.name!,
      [LABEL.namespace]: meta.namespace!,
      [LABEL.uid]: meta.uid!,
      [LABEL.container]: c,
      [LABEL.node]: this.o.nodeName,
    });
    const byName = new Map(existing.map((c) => [c.Labels[LABEL.container], c]));
    let waiting: Record<string, { reason: string; message?: string }> = {};
    let infraId = byName.get(INFRA)?.Id;
    let made = false;
    // ClusterFirst (the default): the cluster DNS with Kubernetes' search path; Default: the host's.
    const nameserver = this.dns.nameserver();
    const dns =
      (spec.dnsPolicy ?? 'ClusterFirst') === 'ClusterFirst' && nameserver
        ? {
            Dns: [nameserver],
            DnsSearch: [`${meta.namespace}.svc.${CLUSTER_DOMAIN}`, `svc.${CLUSTER_DOMAIN}`, CLUSTER_DOMAIN],
            DnsOptions: ['ndots:5'],
          }
        : {};
    try {
      if (!infraId) {
        await this.ensureImage(this.o.pauseImage);
        made = true;
        infraId = await this.createContainer(base(INFRA), {
          Image: this.o.pauseImage,
          Cmd: ['sleep', '2147483647'],
          Hostname: spec.hostname ?? meta.name,
          Labels: labels(INFRA),
          HostConfig: {
            Init: true,
            RestartPolicy: { Name: 'always' },
            ...(this.podNetwork.networkMode() ? { NetworkMode: this.podNetwork.networkMode() } : {}),
            ...dns,
          },
        });
      }
      let volumes: Awaited<ReturnType<PodConfig['volumes']>> | undefined;
      for (const c of spec.containers ?? []) {
        if (byName.has(c.name)) continue;
        try {
          await this.ensureImage(c.image, pod, c.name);
        } catch (err) {
          waiting = { ...waiting, [c.name]: { reason: 'ErrImagePull', message: (err as Error).message } };
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
          waiting = { ...waiting, [c.name]: { reason: 'CreateContainerConfigError', message: err.message } };
          const once = `${meta.uid}/${c.name}/${err.message}`;
          if (!this.reported.has(once)) {
            this.reported.add(once);
            this.events.record(pod, 'Warning', 'Failed', `Error: ${err.message}`, `spec.containers{${c.name}}`);
          }
          continue;
        }
        const limits = c.resources?.limits ?? {};
        const restart =
          spec.restartPolicy === 'Never' ? 'no' : spec.restartPolicy === 'OnFailure' ? 'on-failure' : 'always';
        made = true;
        await this.createContainer(base(c.name), {
          Image: c.image,
          // A pod's containers share its hostname, as they share its UTS namespace in Kubernetes.
          Hostname: spec.hostname ?? meta.name,
          ...(c.command ? { Entrypoint: c.command } : {}),
          ...(c.args ? { Cmd: c.args } : {}),
          Env: env,
          ...(c.workingDir ? { WorkingDir: c.workingDir } : {}),
          Labels: labels(c.name),
          HostConfig: {
            NetworkMode: `container:${infraId}`,
            ...dns,
            ...(binds.length ? { Binds: binds } : {}),
            RestartPolicy: { Name: restart },
            ...(limits.memory ? { Memory: Math.floor(quantity(limits.memory)) } : {}),
            ...(limits.cpu ? { NanoCpus: Math.floor(quantity(limits.cpu) * 1e9) } : {}),
          },
        });
        this.events.record(pod, 'Normal', 'Created', `Created container: ${c.name}`, `spec.containers{${c.name}}`);
        this.events.record(pod, 'Normal', 'Started', `Started container ${c.name}`, `spec.containers{${c.name}}`);
      }
    } finally {
      // The containers listed above are still all there is unless this sync made some.
      await this.reportStatus(pod, infraId, waiting, made ? undefined : existing);
    }
  }

  private async reportStatus(
    pod: KObject,
    infraId: string | undefined,
    waiting: Record<string, { reason: string; message?: string }>,
    listed?: EngineContainer[],
  ): Promise<void> {
    const meta = pod.metadata!;
    const spec = (pod.spec ?? {}) as PodSpec;
    const existing = listed ?? (await this.containersOf(meta.uid!));
    const infra = infraId ? await this.inspect(infraId) : undefined;
    const statuses: Array<Record<string, unknown>> = [];
    for (const c of spec.containers ?? []) {
      const found = existing.find((e) => e.Labels[LABEL.container] === c.name);
      const info = found ? await this.inspect(found.Id) : undefined;
      let state: Record<string, unknown>;
      if (!info) state = { waiting: waiting[c.name] ?? { reason: 'ContainerCreating' } };
      else if (info.State.Running) state = { running: { startedAt: iso(info.State.StartedAt) } };
      else if (info.State.Status === 'created') state = { waiting: { reason: 'ContainerCreating' } };
      else
        state = {
          terminated: {
            exitCode: info.State.ExitCode,
            reason: info.State.OOMKilled ? 'OOMKilled' : info.State.ExitCode === 0 ? 'Completed' : 'Error',
            startedAt: iso(info.State.StartedAt),
            finishedAt: iso(info.State.FinishedAt),
            containerID: `docker://${info.Id}`,
          },
        };
      if (info?.State.Running)
        this.prober.watch(
          keyOf(pod),
          info.Id,
          infra ? this.podNetwork.addressOf(infra) : undefined,
          c.ports ?? [],
          c.readinessProbe,
          c.livenessProbe,
        );
      const ready = !!info?.State.Running && this.prober.ready(info.Id, !!c.readinessProbe);
      const restarts = (info?.RestartCount ?? 0) + (found ? attemptOf(found.Names[0] ?? '') : 0);
      statuses.push({
        name: c.name,
        image: c.image,
        imageID: info ? `docker-pullable://${info.Image}` : '',
        ...(info ? { containerID: `docker://${info.Id}` } : {}),
        ready,
        started: !!info?.State.Running,
        restartCount: restarts,
        state,
      });
    }
    const running = statuses.filter((s) => 'running' in (s.state as object)).length;
    const readyCount = statuses.filter((s) => s.ready).length;
    const terminated = statuses
      .map((s) => (s.state as { terminated?: { exitCode: number } }).terminated)
      .filter((t) => !!t);
    const all = statuses.length;
    let phase = 'Pending';
    if (all && terminated.length === all && spec.restartPolicy !== 'Always')
      phase = terminated.every((t) => t.exitCode === 0) ? 'Succeeded' : 'Failed';
    else if (running > 0 || (terminated.length && spec.restartPolicy === 'Always')) phase = 'Running';
    const ready = all > 0 && readyCount === all;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
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
    const ip = infra ? this.podNetwork.addressOf(infra) : undefined;
    const status = {
      phase,
      conditions: [
        condition('PodReadyToStartContainers', !!infra?.State.Running),
        condition('Initialized', true),
        condition('Ready', ready),
        condition('ContainersReady', ready),
        condition('PodScheduled', true),
      ],
      hostIP: this.o.nodeIp,
      hostIPs: [{ ip: this.o.nodeIp }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: prior.startTime ?? now,
      containerStatuses: statuses,
      qosClass: 'BestEffort',
    };
    const comparable = (s: unknown): string =>
      canonicalJson(JSON.parse(JSON.stringify(s, (k, v: unknown) => (k === 'lastTransitionTime' ? undefined : v))));
    if (comparable(prior) === comparable(status)) return;
    await this.client
      .mergePatch(`${collectionPath('v1', 'pods', meta.namespace)}/${meta.name}/status`, { status })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }

  /** A pod marked for deletion: stop its containers within the grace period, remove them, delete the pod. */
  private async terminate(pod: KObject, existing: EngineContainer[]): Promise<void> {
    const grace = Number(
      pod.metadata?.deletionGracePeriodSeconds ?? (pod.spec as PodSpec).terminationGracePeriodSeconds ?? 30,
    );
    const apps = existing.filter((c) => c.Labels[LABEL.container] !== INFRA);
    for (const c of apps)
      if (c.State === 'running')
        this.events.record(
          pod,
          'Normal',
          'Killing',
          `Stopping container ${c.Labels[LABEL.container]}`,
          `spec.containers{${c.Labels[LABEL.container]}}`,
        );
    await Promise.all(apps.map((c) => this.engine.call('POST', `/containers/${c.Id}/stop`, { query: { t: grace } })));
    await Promise.all(
      existing.map((c) => this.engine.call('DELETE', `/containers/${c.Id}`, { query: { force: 1, v: 1 } })),
    );
    this.config.removePod(pod.metadata!.uid!);
    for (const k of this.reported) if (k.startsWith(`${pod.metadata!.uid}/`)) this.reported.delete(k);
    await this.client
      .delete(`${collectionPath('v1', 'pods', pod.metadata!.namespace)}/${pod.metadata!.name}`, {
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata!.uid },
      })
      .catch((err: unknown) => {
        if (!(err instanceof ApiStatusError && (err.code === 404 || err.code === 409))) throw err;
      });
  }

  /** Containers of pods this node no longer has (deleted at once, or bound elsewhere) are removed. */
  private async removeOrphans(): Promise<void> {
    const known = new Set(this.pods.list().map((p) => p.metadata?.uid));
    const all = await this.engine.json<EngineContainer[]>('GET', '/containers/json', {
      query: { all: 1, filters: JSON.stringify({ label: [`${LABEL.node}=${this.o.nodeName}`] }) },
    });
    this.prober.forget(
      new Set(all.filter((c) => known.has(c.Labels[LABEL.uid]) && c.State === 'running').map((c) => c.Id)),
    );
    const gone = all.filter((c) => !known.has(c.Labels[LABEL.uid]));
    await Promise.all(
      gone.map((c) => this.engine.call('DELETE', `/containers/${c.Id}`, { query: { force: 1, v: 1 } })),
    );
    for (const uid of new Set(gone.map((c) => c.Labels[LABEL.uid]!))) this.config.removePod(uid);
  }
}
