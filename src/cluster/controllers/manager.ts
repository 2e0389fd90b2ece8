/**
 * The controller manager: controllers registered by descriptor (name, constructor, on by default), the
 * informers they share made once per resource, and the scheduler — run inside `gantry server` as k3s
 * runs kube-controller-manager and kube-scheduler, but talking to the API server over HTTPS like any
 * other client. `--controllers` selects them as kube-controller-manager's flag does (`*,-deployment`).
 */
import type { Logger } from '../../common/log.js';
import type { Subnet } from '../../network/ipnet.js';
import { ApiClient, type ClientOptions } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { Informer } from '../client/informer.js';
import { CertificateController } from './certificates.js';
import { DeploymentController } from './deployment.js';
import { EndpointsController } from './endpoints.js';
import { GarbageCollector } from './garbagecollector.js';
import { NamespaceController } from './namespace.js';
import { NodeIpamController } from './nodeipam.js';
import { REPLICATION_CONTROLLER, ReplicaSetController } from './replicaset.js';
import { NodeLifecycleController } from './nodelifecycle.js';
import { DisruptionController } from './disruption.js';
import { ServiceLbController, type AddressPool } from './servicelb.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { DEFAULT_FILTERS, DEFAULT_SCORES } from '../scheduler/plugins.js';
import { VolumeBinding } from '../scheduler/volumebinding.js';
import { ServiceAccountController } from './serviceaccount.js';
import { JobController } from './job.js';
import { PodGarbageCollector } from './podgc.js';
import { HorizontalPodAutoscalerController } from './podautoscaler.js';
import { DaemonSetController } from './daemonset.js';
import { StatefulSetController } from './statefulset.js';
import { CronJobController } from './cronjob.js';
import { TtlAfterFinishedController } from './ttlafterfinished.js';
import { PersistentVolumeController } from './persistentvolume.js';
import { LocalPathProvisioner } from './localpath.js';
import { VolumeProtectionController } from './volumeprotection.js';
import { BootstrapSigner } from './bootstrapsigner.js';
import { RootCaCertPublisher } from './rootcacertpublisher.js';
import { IngressStatusController } from './ingressstatus.js';
import { IngressServiceController } from './ingressservice.js';
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { WorkQueueMetrics, type QueueMetrics } from './workqueuemetrics.js';

/** What a controller is to the manager: something that runs until its queue stops. */
export interface Controller {
  readonly queue: { stop(): void; instrument?(metrics: QueueMetrics): void };
  /** Work before `run` once the shared informers have synced (the collector's own informers). */
  start?(): Promise<void>;
  run(): Promise<void>;
  stop?(): void;
}

export interface ControllerContext {
  client: ApiClient;
  logger: Logger;
  /** The shared informer of a collection path, made on first use. */
  informer(path: string): Informer;
  recorder(component: string): EventRecorder;
  /** The cluster CA's files, for signing the nodes' certificates (absent: no CSR signing). */
  ca?: { certFile: string; keyFile: string };
  /** The range nodes' pod CIDRs come from (absent: no node IPAM). */
  clusterCidr?: Subnet;
  /** `--lb-range`: where LoadBalancer Services' addresses come from. */
  lbPool?: AddressPool;
  /** `--node-monitor-grace-period`: how long a node may be silent before it is NotReady. */
  nodeMonitorGracePeriodMs: number;
  /** `--horizontal-pod-autoscaler-sync-period`: how often each HPA looks at its metrics. */
  hpaSyncPeriodMs?: number;
  /** `--default-local-storage-path`: where local-path volumes live on nodes (absent: not provisioned). */
  localStoragePath?: string;
}

export interface ControllerDescriptor {
  name: string;
  enabledByDefault: boolean;
  /**
   * Part of what deletion itself needs (garbage collection, namespaces, ServiceAccounts): still run
   * with `--disable-controller-manager`, which turns off the workload controllers.
   */
  core?: boolean;
  create(ctx: ControllerContext): Controller | undefined;
}

const PODS = '/api/v1/pods';
const NODES = '/api/v1/nodes';
const NAMESPACES = '/api/v1/namespaces';
const JOBS = '/apis/batch/v1/jobs';
const REVISIONS = '/apis/apps/v1/controllerrevisions';
const CLAIMS = '/api/v1/persistentvolumeclaims';
const VOLUMES = '/api/v1/persistentvolumes';
export const STORAGE_CLASSES = '/apis/storage.k8s.io/v1/storageclasses';

export const CONTROLLERS: ControllerDescriptor[] = [
  {
    name: 'garbagecollector',
    enabledByDefault: true,
    core: true,
    create: (c) => new GarbageCollector(new ApiClient({ ...c.client.options, maxSockets: 128 }), c.logger),
  },
  {
    name: 'namespace',
    enabledByDefault: true,
    core: true,
    create: (c) => new NamespaceController(c.client, c.informer(NAMESPACES), c.logger),
  },
  {
    name: 'serviceaccount',
    enabledByDefault: true,
    core: true,
    create: (c) =>
      new ServiceAccountController(c.client, c.informer(NAMESPACES), c.informer('/api/v1/serviceaccounts'), c.logger),
  },
  {
    name: 'root-ca-cert-publisher',
    enabledByDefault: true,
    core: true,
    create: (c) =>
      c.ca &&
      new RootCaCertPublisher(
        c.client,
        c.informer(NAMESPACES),
        c.informer('/api/v1/configmaps'),
        readFileSync(c.ca.certFile, 'utf8'),
        c.logger,
      ),
  },
  {
    name: 'bootstrapsigner',
    enabledByDefault: true,
    create: (c) =>
      new BootstrapSigner(
        c.client,
        c.informer('/api/v1/namespaces/kube-system/secrets'),
        c.informer('/api/v1/configmaps'),
        c.logger,
      ),
  },
  {
    name: 'deployment',
    enabledByDefault: true,
    create: (c) =>
      new DeploymentController(
        c.client,
        c.informer('/apis/apps/v1/deployments'),
        c.informer('/apis/apps/v1/replicasets'),
        c.logger,
        c.recorder('deployment-controller'),
      ),
  },
  {
    name: 'replicaset',
    enabledByDefault: true,
    create: (c) =>
      new ReplicaSetController(
        c.client,
        c.informer('/apis/apps/v1/replicasets'),
        c.informer(PODS),
        c.logger,
        c.recorder('replicaset-controller'),
      ),
  },
  {
    name: 'replicationcontroller',
    enabledByDefault: true,
    create: (c) =>
      new ReplicaSetController(
        c.client,
        c.informer('/api/v1/replicationcontrollers'),
        c.informer(PODS),
        c.logger,
        c.recorder('replication-controller'),
        REPLICATION_CONTROLLER,
      ),
  },
  {
    name: 'daemonset',
    enabledByDefault: true,
    create: (c) =>
      new DaemonSetController(
        c.client,
        c.informer('/apis/apps/v1/daemonsets'),
        c.informer(PODS),
        c.informer(NODES),
        c.informer(REVISIONS),
        c.logger,
        c.recorder('daemonset-controller'),
      ),
  },
  {
    name: 'statefulset',
    enabledByDefault: true,
    create: (c) =>
      new StatefulSetController(
        c.client,
        c.informer('/apis/apps/v1/statefulsets'),
        c.informer(PODS),
        c.informer(REVISIONS),
        c.logger,
        c.recorder('statefulset-controller'),
      ),
  },
  {
    name: 'horizontalpodautoscaling',
    enabledByDefault: true,
    create: (c) =>
      new HorizontalPodAutoscalerController(
        c.client,
        c.informer('/apis/autoscaling/v2/horizontalpodautoscalers'),
        c.informer(PODS),
        c.logger,
        c.recorder('horizontal-pod-autoscaler'),
        c.hpaSyncPeriodMs,
      ),
  },
  {
    name: 'podgc',
    enabledByDefault: true,
    create: (c) => new PodGarbageCollector(c.client, c.informer(PODS), c.informer(NODES), c.logger),
  },
  {
    name: 'job',
    enabledByDefault: true,
    create: (c) =>
      new JobController(c.client, c.informer(JOBS), c.informer(PODS), c.logger, c.recorder('job-controller')),
  },
  {
    name: 'cronjob',
    enabledByDefault: true,
    create: (c) =>
      new CronJobController(
        c.client,
        c.informer('/apis/batch/v1/cronjobs'),
        c.informer(JOBS),
        c.logger,
        c.recorder('cronjob-controller'),
      ),
  },
  {
    name: 'ttl-after-finished',
    enabledByDefault: true,
    create: (c) => new TtlAfterFinishedController(c.client, c.informer(JOBS), c.logger),
  },
  {
    name: 'ingress-status',
    enabledByDefault: true,
    create: (c) =>
      new IngressStatusController(
        c.client,
        c.informer('/apis/networking.k8s.io/v1/ingresses'),
        c.informer(NODES),
        c.informer('/api/v1/services'),
        c.logger,
      ),
  },
  {
    name: 'ingress-service',
    enabledByDefault: true,
    create: (c) =>
      c.lbPool &&
      new IngressServiceController(
        c.client,
        c.informer(NODES),
        c.informer('/api/v1/services'),
        c.informer('/api/v1/endpoints'),
        c.logger,
      ),
  },
  {
    name: 'persistentvolume-binder',
    enabledByDefault: true,
    create: (c) =>
      new PersistentVolumeController(
        c.client,
        c.informer(CLAIMS),
        c.informer(VOLUMES),
        c.informer(STORAGE_CLASSES),
        c.informer(NODES),
        c.localStoragePath ? [new LocalPathProvisioner(c.localStoragePath)] : [],
        c.logger,
        c.recorder('persistentvolume-controller'),
      ),
  },
  {
    name: 'persistentvolume-protection',
    enabledByDefault: true,
    core: true,
    create: (c) =>
      new VolumeProtectionController(c.client, c.informer(CLAIMS), c.informer(VOLUMES), c.informer(PODS), c.logger),
  },
  {
    name: 'endpoints',
    enabledByDefault: true,
    create: (c) =>
      new EndpointsController(c.client, c.informer('/api/v1/services'), c.informer(PODS), c.informer(NODES), c.logger),
  },
  {
    name: 'nodeipam',
    enabledByDefault: true,
    create: (c) => c.clusterCidr && new NodeIpamController(c.client, c.informer(NODES), c.clusterCidr, c.logger),
  },
  {
    name: 'nodelifecycle',
    enabledByDefault: true,
    create: (c) =>
      new NodeLifecycleController(
        c.client,
        c.informer(NODES),
        c.informer('/apis/coordination.k8s.io/v1/leases'),
        c.informer(PODS),
        c.nodeMonitorGracePeriodMs,
        c.logger,
      ),
  },
  {
    name: 'disruption',
    enabledByDefault: true,
    create: (c) =>
      new DisruptionController(
        c.client,
        c.informer('/apis/policy/v1/poddisruptionbudgets'),
        c.informer(PODS),
        c.logger,
      ),
  },
  {
    name: 'servicelb',
    enabledByDefault: true,
    create: (c) => c.lbPool && new ServiceLbController(c.client, c.informer('/api/v1/services'), c.lbPool, c.logger),
  },
  {
    name: 'csrsigning',
    enabledByDefault: true,
    create: (c) =>
      c.ca &&
      new CertificateController(
        c.client,
        c.informer('/apis/certificates.k8s.io/v1/certificatesigningrequests'),
        c.logger,
        c.ca,
      ),
  },
];

/**
 * The controllers a `--controllers` value turns on: `*` is every one on by default, `name` adds one,
 * `-name` removes one; later entries win. Unknown names are refused.
 */
export function selectControllers(spec: string, descriptors = CONTROLLERS): Set<string> {
  const known = new Set(descriptors.map((d) => d.name));
  const on = new Set<string>();
  for (const raw of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (raw === '*') {
      for (const d of descriptors) if (d.enabledByDefault) on.add(d.name);
      continue;
    }
    const name = raw.startsWith('-') ? raw.slice(1) : raw;
    if (!known.has(name))
      throw new Error(`"${name}" is not in the list of known controllers: ${[...known].sort().join(', ')}`);
    if (raw.startsWith('-')) on.delete(name);
    else on.add(name);
  }
  return on;
}

export class ControllerManager {
  private readonly client: ApiClient;
  private readonly informers = new Map<string, Informer>();
  private readonly controllers: Controller[] = [];
  private readonly names: string[] = [];
  private stopped = false;
  /** The metrics this manager registered, removed when it stops so a later term can register them again. */
  private readonly metricNames: string[] = [];
  private readonly registry: Registry | undefined;

  constructor(
    options: ClientOptions,
    private readonly logger: Logger,
    opts: {
      scheduler: boolean;
      controllers: Set<string>;
      ca?: { certFile: string; keyFile: string };
      clusterCidr?: Subnet;
      lbPool?: AddressPool;
      nodeMonitorGracePeriodMs?: number;
      hpaSyncPeriodMs?: number;
      localStoragePath?: string;
      /** Where the work queues and the scheduler report their metrics (absent: not measured). */
      registry?: Registry;
    },
  ) {
    const registered = new Set(opts.registry?.getMetricsAsArray().map((m) => m.name));
    // A manager running the scheduler alone (under its own lease) leaves the work queue series to the other.
    const queueMetrics = opts.registry && opts.controllers.size > 0 && new WorkQueueMetrics(opts.registry);
    this.client = new ApiClient({ maxSockets: 64, ...options });
    const ctx: ControllerContext = {
      client: this.client,
      logger,
      ca: opts.ca,
      clusterCidr: opts.clusterCidr,
      lbPool: opts.lbPool,
      nodeMonitorGracePeriodMs: opts.nodeMonitorGracePeriodMs ?? 40_000,
      hpaSyncPeriodMs: opts.hpaSyncPeriodMs,
      localStoragePath: opts.localStoragePath,
      informer: (path) => {
        let i = this.informers.get(path);
        if (!i) this.informers.set(path, (i = new Informer(this.client, path, logger)));
        return i;
      },
      recorder: (component) => new EventRecorder(this.client, component, logger),
    };
    for (const d of CONTROLLERS) {
      if (!opts.controllers.has(d.name)) continue;
      const c = d.create(ctx);
      if (!c) continue;
      if (queueMetrics) c.queue.instrument?.(queueMetrics.forQueue(d.name));
      this.controllers.push(c);
      this.names.push(d.name);
    }
    if (opts.scheduler) {
      const volumes = new VolumeBinding(
        this.client,
        ctx.informer(CLAIMS),
        ctx.informer(VOLUMES),
        ctx.informer(STORAGE_CLASSES),
      );
      const scheduler = new Scheduler(
        this.client,
        ctx.informer(PODS),
        ctx.informer(NODES),
        logger,
        ctx.recorder('default-scheduler'),
        { filters: [...DEFAULT_FILTERS, volumes], scores: DEFAULT_SCORES, preBind: [volumes] },
        ctx.informer(NAMESPACES),
        ctx.informer('/apis/policy/v1/poddisruptionbudgets'),
      );
      volumes.onChange(() => scheduler.queue.moveAllToActive());
      if (opts.registry) scheduler.instrument(opts.registry);
      this.controllers.push(scheduler);
      this.names.push('scheduler');
    }
    this.registry = opts.registry;
    for (const m of opts.registry?.getMetricsAsArray() ?? [])
      if (!registered.has(m.name)) this.metricNames.push(m.name);
  }

  /** Start the informers, wait for their first lists, then the controllers. */
  async start(): Promise<void> {
    for (const i of this.informers.values()) i.start();
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
    // A leader that lost its lease while the informers synced must not start acting.
    if (this.stopped) return;
    for (const c of this.controllers) await c.start?.();
    for (const c of this.controllers) {
      void c.run().catch((err: unknown) => this.logger.error({ err: String(err) }, 'controller stopped'));
    }
    this.logger.info({ controllers: this.names }, 'controllers started');
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.controllers) {
      c.queue.stop();
      c.stop?.();
    }
    for (const i of this.informers.values()) i.stop();
    for (const name of this.metricNames) this.registry?.removeSingleMetric(name);
    this.client.close();
  }
}
