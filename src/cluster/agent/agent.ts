/**
 * The node agent (Gantry's kubelet and kube-proxy), shaped as the kubelet: it registers its Node and
 * keeps it and its Lease fresh (`node`), keeps the service rules (`proxy`) and the cluster DNS (`dns`),
 * and runs the pods bound to it. Each pod is synced by a worker of its own key (never two at once):
 * what the runtime has of it is read, `computePodActions` decides what to do (`actions`, pure), the
 * executor does it through the `Runtime` (`executor`, `runtime`: the engine's Docker API, as dockershim),
 * and the status manager writes the resulting status when it changed (`status`). Pods are synced when
 * the API changes them, when the PLEG sees one of their containers change (`pleg`, fed by the engine's
 * event stream) and, as the kubelet's sync frequency, once a minute; containers of pods this node no
 * longer has are removed (the engine may be shared: only containers labelled for this node count).
 */
import type { Server } from 'node:https';
import type { Logger } from '../../common/log.js';
import type { ApiClient as EngineClient } from '../../api/docker/client.js';
import { keyOf, type KObject } from '../api/object.js';
import { podSpec, podStatus } from '../api/pod.js';
import type { KubeClient } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { Informer } from '../client/informer.js';
import { WorkQueue } from '../controllers/controller.js';
import { computePodActions, runtimeState, type PodRuntimeState } from './actions.js';
import { ClusterDns } from './dns.js';
import { PodExecutor } from './executor.js';
import { NodeStatusReporter } from './node.js';
import { Pleg } from './pleg.js';
import { PodConfig } from './podconfig.js';
import { PodNetwork } from './podnetwork.js';
import { PodRoutes } from './podroutes.js';
import { LoadBalancerAddresses } from './lbaddresses.js';
import { LocalVolumeCleaner } from './localvolumes.js';
import { IngressProxy } from './ingressproxy.js';
import { NetworkPolicyEnforcer } from './netpolicy.js';
import { Prober } from './prober.js';
import { ServiceProxy } from './proxy.js';
import { EngineRuntime, SANDBOX, type Runtime } from './runtime.js';
import { startAgentServer } from './server.js';
import { ResourceSampler, type NodeUsageSource } from './resourcestats.js';
import { cadvisorMetrics } from './cadvisor.js';
import { KubeletMetrics } from './metrics.js';
import { processRegistry } from '../../common/metrics.js';
import { attemptOf, StatusManager } from './status.js';

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
  /** The cluster's pod range: when given, routes to other nodes' pods are kept (`podroutes`). */
  clusterCidr?: string;
  /** Labels the Node is registered with (`--node-labels`). */
  nodeLabels?: Record<string, string>;
  /** Answer on the node's interface for LoadBalancer Services' addresses (`lbaddresses`). */
  announceLoadBalancers?: boolean;
  /** The ingress proxy's ports (`ingressproxy`); 0 turns one off. Both 0 or absent: no proxy. */
  ingressPorts?: { http: number; https: number };
  /** Where the node's own CPU and memory figures come from (`resourcestats`): the machine, or its pods. */
  nodeUsage?: NodeUsageSource;
}

const HEARTBEAT_MS = 10_000;
/** A pod with a container that cannot start yet (no image, a missing ConfigMap) is tried again this soon. */
const WAITING_RETRY_MS = 2_000;
/** How soon a pod whose termination failed is tried again. */
const TERMINATE_RETRY_MS = 1_000;
/** Every pod is synced this often whatever happens (the kubelet's syncFrequency). */
const SYNC_FREQUENCY_MS = 60_000;
/** The key of the orphan sweep in the work queue. */
const ORPHANS = '';

export class NodeAgent {
  private readonly pods: Informer;
  private readonly resources: ResourceSampler;
  private readonly services: Informer;
  private readonly endpoints: Informer;
  private readonly nodes?: Informer;
  private readonly podRoutes?: PodRoutes;
  private readonly lbAddresses?: LoadBalancerAddresses;
  private readonly proxy: ServiceProxy;
  private readonly dns: ClusterDns;
  private readonly podNetwork: PodNetwork;
  private readonly runtime: Runtime;
  private readonly prober: Prober;
  private readonly events: EventRecorder;
  private readonly node: NodeStatusReporter;
  private readonly executor: PodExecutor;
  private readonly status: StatusManager;
  private readonly pleg: Pleg;
  private readonly localVolumes: LocalVolumeCleaner;
  private readonly ingresses?: Informer;
  private readonly networkPolicy: NetworkPolicyEnforcer;
  private readonly ingressProxy?: IngressProxy;
  /** Pod keys by UID, for the PLEG's events. */
  private readonly keysByUid = new Map<string, string>();
  private readonly queue = new WorkQueue();
  /** Pods being terminated, by key (see `terminate`). */
  private readonly terminating = new Map<string, Promise<void>>();
  private timers: NodeJS.Timeout[] = [];
  private endpoint?: Server;
  private readonly registry = processRegistry();
  private readonly metrics: KubeletMetrics;

  constructor(
    private readonly client: KubeClient,
    private readonly engine: EngineClient,
    private readonly o: AgentOptions,
    private readonly logger: Logger,
  ) {
    this.pods = new Informer(client, '/api/v1/pods', logger, { fieldSelector: `spec.nodeName=${o.nodeName}` });
    this.pods.on({
      add: (p) => this.seen(p),
      update: (_o, p) => this.seen(p),
      delete: (p) => {
        this.keysByUid.delete(p.metadata?.uid ?? '');
        this.metrics.forget(p.metadata?.uid ?? '');
        this.queue.add(ORPHANS);
      },
    });
    this.services = new Informer(client, '/api/v1/services', logger);
    this.endpoints = new Informer(client, '/api/v1/endpoints', logger);
    if (o.clusterCidr) {
      this.nodes = new Informer(client, '/api/v1/nodes', logger);
      this.podRoutes = new PodRoutes(this.nodes, o.nodeName, o.clusterCidr, logger);
    }
    if (o.announceLoadBalancers) this.lbAddresses = new LoadBalancerAddresses(this.services, o.nodeIp, logger);
    this.proxy = new ServiceProxy(this.services, this.endpoints, logger);
    this.networkPolicy = new NetworkPolicyEnforcer(client, o.nodeName, logger);
    if (o.ingressPorts && (o.ingressPorts.http || o.ingressPorts.https)) {
      this.ingresses = new Informer(client, '/apis/networking.k8s.io/v1/ingresses', logger);
      this.ingressProxy = new IngressProxy(
        client,
        this.ingresses,
        this.services,
        this.endpoints,
        o.ingressPorts,
        o.serving,
        logger,
      );
    }
    this.podNetwork = new PodNetwork(client, engine, o.nodeName, logger);
    this.runtime = new EngineRuntime(engine, o.nodeName, this.podNetwork);
    this.metrics = new KubeletMetrics(this.registry, o.nodeName, this.runtime);
    this.resources = new ResourceSampler(
      o.nodeName,
      this.runtime,
      (uid) => {
        const pod = this.pods.get(this.keysByUid.get(uid) ?? '');
        return pod && { ...this.podNameOf(uid)!, startTime: podStatus(pod).startTime };
      },
      logger,
      undefined,
      o.nodeUsage,
    );
    this.events = new EventRecorder(client, 'kubelet', logger, o.nodeName);
    this.node = new NodeStatusReporter(client, o, () => engine.call('GET', '/_ping').then(() => true));
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
    this.executor = new PodExecutor(
      client,
      this.runtime,
      new PodConfig(client, o.dataDir, () => this.services.list()),
      this.events,
      { nodeName: o.nodeName, pauseImage: o.pauseImage, nameserver: () => this.dns.nameserver() },
      logger,
    );
    this.localVolumes = new LocalVolumeCleaner(client, o.nodeName, logger);
    this.status = new StatusManager(client, this.runtime, this.prober, o.nodeIp, keyOf);
    this.pleg = new Pleg(
      this.runtime,
      (uid) => this.keysByUid.get(uid),
      (key) => this.queue.add(key),
      () => this.syncAll(),
      () => this.queue.add(ORPHANS),
      logger,
    );
  }

  private seen(p: KObject): void {
    const key = keyOf(p);
    if (p.metadata?.uid) this.keysByUid.set(p.metadata.uid, key);
    this.queue.add(key);
  }

  private informers(): Informer[] {
    return [
      this.pods,
      this.services,
      this.endpoints,
      ...(this.nodes ? [this.nodes] : []),
      ...(this.ingresses ? [this.ingresses] : []),
      ...this.networkPolicy.informers(),
    ];
  }

  private syncAll(): void {
    for (const p of this.pods.list()) this.queue.add(keyOf(p));
    this.queue.add(ORPHANS);
  }

  async start(): Promise<void> {
    this.endpoint = await startAgentServer({
      port: this.o.port,
      ca: this.o.ca,
      serving: this.o.serving,
      engine: this.engine,
      logger: this.logger,
      containerOf: (ns, pod, c) => this.containerId(ns, pod, c),
      podNetwork: (ns, pod) => this.podNetworkOf(ns, pod),
      summary: () => this.resources.summary(),
      metrics: {
        registry: this.registry,
        cadvisor: () => cadvisorMetrics(this.runtime, (uid) => this.podNameOf(uid)),
      },
    });
    await this.node.register();
    await this.podNetwork
      .ensure()
      .catch((err: unknown) =>
        this.logger.error({ err: String(err) }, 'pod network not made; pods use the engine default bridge'),
      );
    if (this.podRoutes)
      await this.podRoutes
        .start()
        .catch((err: unknown) => this.logger.error({ err: String(err) }, 'pod-to-pod masquerade exemption not added'));
    for (const i of this.informers()) i.start();
    await Promise.all([this.pods, this.services, this.endpoints].map((i) => i.waitForSync()));
    this.proxy.sync();
    // Pods still run without the cluster DNS (say, port 53 taken on this address); they fall back to the host's.
    await this.dns.start().catch((err: unknown) => this.logger.error({ err: String(err) }, 'cluster DNS not started'));
    this.pleg.start();
    this.localVolumes.start();
    await this.ingressProxy?.start();
    void this.queue.run(
      'node-agent',
      (key) => (key === ORPHANS ? this.removeOrphans() : this.syncPod(key)),
      this.logger,
      4,
    );
    this.timers.push(
      setInterval(
        () =>
          void this.node
            .heartbeat()
            .catch((err: unknown) => this.logger.warn({ err: String(err) }, 'node heartbeat failed')),
        HEARTBEAT_MS,
      ),
      setInterval(() => this.syncAll(), SYNC_FREQUENCY_MS),
    );
    this.syncAll();
    this.logger.info({ node: this.o.nodeName }, 'node agent started');
  }

  /** Stop; the service rules go too, as pods' addresses are no longer kept up to date. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.resources.stop();
    this.pleg.stop();
    this.localVolumes.stop();
    this.ingressProxy?.stop();
    this.networkPolicy.stop();
    this.queue.stop();
    for (const i of this.informers()) i.stop();
    this.proxy.stop();
    this.endpoint?.close();
    ServiceProxy.cleanup();
    await Promise.all([
      this.dns.stop(),
      this.lbAddresses
        ?.stop()
        .catch((err: unknown) => this.logger.warn({ err: String(err) }, 'LoadBalancer addresses not removed')),
    ]);
  }

  /** A renewed serving certificate for the agent's endpoint: new connections get it. */
  setServingCertificate(cert: string, key: string): void {
    this.endpoint?.setSecureContext({ key, cert, ca: this.o.ca });
  }

  /** The namespace and name of one of this node's pods, by UID. */
  private podNameOf(uid: string): { namespace: string; name: string } | undefined {
    const meta = this.pods.get(this.keysByUid.get(uid) ?? '')?.metadata;
    return meta && { namespace: meta.namespace!, name: meta.name! };
  }

  /**
   * A pod's termination runs beside the queue's workers, as each pod has a worker of its own in the
   * kubelet: a container that waits out its grace period (30 s for one ignoring SIGTERM) must not hold
   * up the other pods' kills and starts. The pod is synced again once it is done.
   */
  private terminate(key: string, pod: KObject, state: PodRuntimeState, graceSeconds: number): void {
    if (this.terminating.has(key)) return;
    const done = this.executor.terminate(pod, state, graceSeconds).then(
      () => {
        this.terminating.delete(key);
        this.queue.add(key);
      },
      (err: unknown) => {
        this.terminating.delete(key);
        this.logger.warn({ pod: key, err: String(err) }, 'pod termination failed; will retry');
        this.queue.addAfter(key, TERMINATE_RETRY_MS);
      },
    );
    this.terminating.set(key, done);
  }

  /** One pod: read what the runtime has, decide, act, report. */
  private async syncPod(key: string): Promise<void> {
    const pod = this.pods.get(key);
    if (!pod) return;
    const startedAt = performance.now();
    let state = runtimeState(await this.runtime.podContainers(pod.metadata!.uid!));
    const actions = computePodActions(pod, state);
    if (actions.terminate) return this.terminate(key, pod, state, actions.terminate.graceSeconds);
    let waiting = {};
    try {
      waiting = await this.executor.execute(pod, actions, state);
    } finally {
      // What this sync made is read back before reporting.
      if (actions.createSandbox || actions.start.length || actions.startEphemeral)
        state = runtimeState(await this.runtime.podContainers(pod.metadata!.uid!));
      await this.status.report(pod, state, waiting);
      const running = (podSpec(pod).containers ?? []).every((c) => state.get(c.name ?? '')?.state === 'running');
      this.metrics.podSynced(
        pod.metadata!.uid!,
        (performance.now() - startedAt) / 1000,
        actions.createSandbox,
        running,
      );
    }
    // What a container waits for (an image, a ConfigMap) raises no event here: look again soon.
    if (Object.keys(waiting).length) this.queue.addAfter(key, WAITING_RETRY_MS);
    else if (state.has(SANDBOX)) await this.executor.refreshVolumes(pod);
  }

  /**
   * A container that failed its liveness probe is removed and made again as the next attempt (its name
   * ends with the attempt, which restartCount reports), as the kubelet does.
   */
  private async replace(podKey: string, containerId: string): Promise<void> {
    const pod = this.pods.get(podKey);
    if (!pod) return;
    const found = (await this.runtime.podContainers(pod.metadata!.uid!)).find((c) => c.id === containerId);
    if (!found) return;
    this.events.record(
      pod,
      'Normal',
      'Killing',
      `Container ${found.name} failed liveness probe, will be restarted`,
      `spec.containers{${found.name}}`,
    );
    this.executor.nextAttempt.set(found.runtimeName.replace(/_\d+$/, ''), attemptOf(found.runtimeName) + 1);
    await this.runtime.remove(containerId).catch(() => undefined);
    this.queue.add(podKey);
  }

  /** The runtime container of one of this node's pods' containers. */
  private async containerId(ns: string, pod: string, container: string): Promise<string | undefined> {
    const p = this.pods.get(`${ns}/${pod}`);
    if (!p) return undefined;
    return (await this.runtime.podContainers(p.metadata!.uid!)).find((c) => c.name === container)?.id;
  }

  /** The network namespace of one of this node's pods (its sandbox's), for port-forward. */
  private async podNetworkOf(ns: string, pod: string): Promise<{ netns: string; uid: string } | undefined> {
    const uid = this.pods.get(`${ns}/${pod}`)?.metadata?.uid;
    if (!uid) return undefined;
    const sandbox = (await this.runtime.podContainers(uid)).find((c) => c.name === SANDBOX && c.state === 'running');
    const pid = sandbox && (await this.runtime.inspect(sandbox.id))?.pid;
    return pid ? { netns: `/proc/${pid}/ns/net`, uid } : undefined;
  }

  /** Containers of pods this node no longer has (deleted at once, or bound elsewhere) are removed. */
  private async removeOrphans(): Promise<void> {
    const known = new Set(this.pods.list().map((p) => p.metadata?.uid));
    const all = await this.runtime.nodeContainers();
    this.prober.forget(new Set(all.filter((c) => known.has(c.podUid) && c.state === 'running').map((c) => c.id)));
    const gone = all.filter((c) => !known.has(c.podUid));
    await Promise.all(gone.map((c) => this.runtime.remove(c.id)));
    for (const uid of new Set(gone.map((c) => c.podUid))) this.executor.forget(uid);
  }
}
