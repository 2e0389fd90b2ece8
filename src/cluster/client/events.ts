/**
 * Events, as Kubernetes components record them: what happened to an object (Scheduled, Pulled, Started,
 * ScalingReplicaSet, ...), for `kubectl describe` and `kubectl get events`. Recording never fails the
 * work it describes.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../common/log.js';
import { nowRfc3339, type KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from './client.js';

export class EventRecorder {
  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly logger: Logger,
    private readonly host?: string,
  ) {}

  record(about: KObject, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void {
    const ns = about.metadata?.namespace ?? 'default';
    const now = nowRfc3339();
    const event: KObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${about.metadata?.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: {
        apiVersion: about.apiVersion,
        kind: about.kind,
        name: about.metadata?.name,
        namespace: about.metadata?.namespace,
        uid: about.metadata?.uid,
        ...(fieldPath ? { fieldPath } : {}),
      },
      reason,
      message,
      type,
      source: { component: this.component, ...(this.host ? { host: this.host } : {}) },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      reportingComponent: this.component,
      reportingInstance: this.host ?? '',
    };
    this.client
      .create(collectionPath('v1', 'events', ns), event)
      .catch((err: unknown) => this.logger.debug({ err: String(err), reason }, 'event not recorded'));
  }
}
