/**
 * Events, as Kubernetes components record them: what happened to an object (Scheduled, Pulled, Started,
 * ScalingReplicaSet, ...), for `kubectl describe` and `kubectl get events`. Recording never fails the
 * work it describes, nor competes with it: as client-go's broadcaster does, events wait in a queue of at
 * most 1000 and are written a few at a time, and when the queue is full under a burst (thousands of pods
 * scheduled at once) new events are dropped rather than slowing the binds they report.
 */
import type { Logger } from '../../common/log.js';
import { nowRfc3339, type KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from './client.js';

/** client-go's `maxQueuedEvents`. */
const MAX_QUEUED = 1000;
const MAX_IN_FLIGHT = 2;

let lastStamp = 0n;

/**
 * client-go's event name suffix: the time in nanoseconds, in hex (`pod.17c9e0a2b3d4e5f6`). The clock
 * here counts milliseconds, so a stamp is moved past the previous one to stay unique in this process.
 */
function eventStamp(): string {
  let ns = BigInt(Date.now()) * 1_000_000n;
  if (ns <= lastStamp) ns = lastStamp + 1n;
  lastStamp = ns;
  return ns.toString(16);
}

export class EventRecorder {
  private readonly queue: KObject[] = [];
  private inFlight = 0;
  private dropped = 0;

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
      metadata: { name: `${about.metadata?.name}.${eventStamp()}`, namespace: ns },
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
    if (this.queue.length >= MAX_QUEUED) {
      if (this.dropped++ === 0) this.logger.warn({ reason }, 'event queue full: dropping events until it drains');
      return;
    }
    this.queue.push(event);
    this.send();
  }

  private send(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length) {
      const event = this.queue.shift()!;
      this.inFlight++;
      this.client
        .create(collectionPath('v1', 'events', event.metadata!.namespace), event)
        .catch((err: unknown) => this.logger.debug({ err: String(err), reason: event.reason }, 'event not recorded'))
        .finally(() => {
          this.inFlight--;
          if (!this.queue.length && this.dropped) {
            this.logger.warn({ dropped: this.dropped }, 'event queue drained; events were dropped while it was full');
            this.dropped = 0;
          }
          this.send();
        });
    }
  }
}
