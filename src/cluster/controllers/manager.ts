/**
 * The controller manager: the informers the controllers share and the controllers themselves
 * (Deployments, ReplicaSets, Endpoints, certificates) with the scheduler, run inside `gantry server` as k3s runs
 * kube-controller-manager and kube-scheduler, but
 * talking to the API server over HTTPS like any other client.
 */
import type { Logger } from '../../common/log.js';
import { ApiClient, type ClientOptions } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { Informer } from '../client/informer.js';
import { CertificateController } from './certificates.js';
import { DeploymentController } from './deployment.js';
import { EndpointsController } from './endpoints.js';
import { ReplicaSetController } from './replicaset.js';
import { Scheduler } from './scheduler.js';

export class ControllerManager {
  private readonly client: ApiClient;
  private readonly informers: Informer[];
  private readonly controllers: Array<
    DeploymentController | ReplicaSetController | EndpointsController | Scheduler | CertificateController
  >;

  /** `ca`: the cluster CA's files, for signing the nodes' certificates. */
  constructor(
    options: ClientOptions,
    private readonly logger: Logger,
    opts: { scheduler: boolean; ca?: { certFile: string; keyFile: string } } = { scheduler: true },
  ) {
    this.client = new ApiClient(options);
    const deployments = new Informer(this.client, '/apis/apps/v1/deployments', logger);
    const sets = new Informer(this.client, '/apis/apps/v1/replicasets', logger);
    const pods = new Informer(this.client, '/api/v1/pods', logger);
    const nodes = new Informer(this.client, '/api/v1/nodes', logger);
    const services = new Informer(this.client, '/api/v1/services', logger);
    const csrs = new Informer(this.client, '/apis/certificates.k8s.io/v1/certificatesigningrequests', logger);
    this.informers = [deployments, sets, pods, nodes, services, csrs];
    const recorder = (component: string): EventRecorder => new EventRecorder(this.client, component, logger);
    this.controllers = [
      new DeploymentController(this.client, deployments, sets, logger, recorder('deployment-controller')),
      new ReplicaSetController(this.client, sets, pods, logger, recorder('replicaset-controller')),
      new EndpointsController(this.client, services, pods, nodes, logger),
    ];
    if (opts.ca) this.controllers.push(new CertificateController(this.client, csrs, logger, opts.ca));
    if (opts.scheduler)
      this.controllers.push(new Scheduler(this.client, pods, nodes, logger, recorder('default-scheduler')));
  }

  /** Start the informers, wait for their first lists, then the controllers. */
  async start(): Promise<void> {
    for (const i of this.informers) i.start();
    await Promise.all(this.informers.map((i) => i.waitForSync()));
    for (const c of this.controllers) {
      void c.run().catch((err: unknown) => this.logger.error({ err: String(err) }, 'controller stopped'));
    }
    this.logger.info({ controllers: this.controllers.map((c) => c.constructor.name) }, 'controllers started');
  }

  stop(): void {
    for (const c of this.controllers) c.queue.stop();
    for (const i of this.informers) i.stop();
    this.client.close();
  }
}
