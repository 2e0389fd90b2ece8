/**
 * The root CA publisher (Kubernetes' `pkg/controller/certificates/rootcacertpublisher`): every active
 * namespace has a ConfigMap `kube-root-ca.crt` holding the cluster CA as `ca.crt`, made again if it is
 * deleted and put right if it is changed — what pods' API access volumes read.
 */
import type { Logger } from '../../common/log.js';
import { isAlreadyExists, isForbidden, isNotFound } from '../api/errors.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';

export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';

export class RootCaCertPublisher {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly namespaces: Informer,
    private readonly configMaps: Informer,
    private readonly caPem: string,
    private readonly logger: Logger,
  ) {
    namespaces.on({
      add: (o) => this.queue.add(o.metadata?.name ?? ''),
      update: (_old, o) => this.queue.add(o.metadata?.name ?? ''),
    });
    const touched = (o: { metadata?: { name?: string; namespace?: string } }): void => {
      if (o.metadata?.name === ROOT_CA_CONFIGMAP) this.queue.add(o.metadata.namespace ?? '');
    };
    configMaps.on({ update: (_old, o) => touched(o), delete: touched });
  }

  run(): Promise<void> {
    return this.queue.run('root-ca-cert-publisher', (name) => this.sync(name), this.logger);
  }

  async sync(namespace: string): Promise<void> {
    const ns = this.namespaces.get(namespace);
    if (!ns || ns.metadata?.deletionTimestamp || ns.status?.phase === 'Terminating') return;
    const path = collectionPath('v1', 'configmaps', namespace);
    const have = this.configMaps.get(`${namespace}/${ROOT_CA_CONFIGMAP}`);
    const data = { 'ca.crt': this.caPem };
    const ignore = (err: unknown): void => {
      // Made meanwhile (the informer had not seen it), gone, or the namespace began terminating.
      if (!isAlreadyExists(err) && !isNotFound(err) && !isForbidden(err)) throw err;
    };
    if (!have) {
      await this.client.create(path, { metadata: { name: ROOT_CA_CONFIGMAP }, data }).catch(ignore);
      return;
    }
    if ((have.data as Record<string, string> | undefined)?.['ca.crt'] === this.caPem && !have.binaryData) return;
    await this.client.update(`${path}/${ROOT_CA_CONFIGMAP}`, { ...have, data, binaryData: undefined }).catch(ignore);
  }
}
