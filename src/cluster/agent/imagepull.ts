/**
 * A container's image, as the kubelet's image manager ensures it (`pkg/kubelet/images`): by the
 * container's `imagePullPolicy` — `Always` pulls on every container start (a present image costs a
 * manifest check and brings a moved tag up to date), `IfNotPresent` only when missing, `Never` not at
 * all — with the pod's pull credentials, the kubelet's events and words, and after a failed pull a
 * back-off per pod and image (10 s doubling to 5 min) during which the container waits in
 * `ImagePullBackOff` instead of asking the registry again.
 */
import type { KObject } from '../api/object.js';
import type { KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { pullCredentials, type RegistryAuth } from './pullsecrets.js';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** What of the runtime pulling needs. */
export interface ImageStore {
  /** The image's size in bytes, undefined when the node does not have it. */
  imageSize(image: string): Promise<number | undefined>;
  pullImage(image: string, auth?: RegistryAuth): Promise<void>;
}

/** Why an image could not be had: the container's waiting reason and message. */
export class ImageError extends Error {
  constructor(
    readonly reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull',
    message: string,
  ) {
    super(message);
  }
}

const BACKOFF_INITIAL_MS = 10_000;
const BACKOFF_MAX_MS = 300_000;

/** Kubernetes' default: `Always` for `:latest` or no tag, `IfNotPresent` otherwise (a digest included). */
export function defaultPullPolicy(image: string): PullPolicy {
  if (image.includes('@')) return 'IfNotPresent';
  const tag = /:([^/]+)$/.exec(image)?.[1];
  return !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** A duration as Go prints a truncated-to-milliseconds one: `612ms`, `1.023s`. */
export function goMillis(ms: number): string {
  const whole = Math.max(0, Math.round(ms));
  return whole < 1000 ? `${whole}ms` : `${(whole / 1000).toString()}s`;
}

export class ImagePuller {
  /** Failed pulls by `<pod uid>/<image>`: when the next may be tried, the back-off that led there, why. */
  private readonly backoff = new Map<string, { until: number; delayMs: number; reason: string }>();

  constructor(
    private readonly client: KubeClient,
    private readonly images: ImageStore,
    private readonly events: EventRecorder,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Have `image` on the node as `policy` says, recording events on `pod` for `fieldPath`; throws an
   * ImageError otherwise. Without a pod (the sandbox's image) it is pulled only when missing, quietly.
   */
  async ensure(image: string, policy: PullPolicy, pod?: KObject, fieldPath?: string): Promise<void> {
    const present = (await this.images.imageSize(image)) !== undefined;
    const record = (type: 'Normal' | 'Warning', reason: string, message: string): void => {
      if (pod) this.events.record(pod, type, reason, message, fieldPath);
    };
    if (policy === 'Never' || (present && policy === 'IfNotPresent') || (present && !pod)) {
      if (present) return record('Normal', 'Pulled', `Container image "${image}" already present on machine`);
      const message = `Container image "${image}" is not present with pull policy of Never`;
      record('Warning', 'ErrImageNeverPull', message);
      throw new ImageError('ErrImageNeverPull', message);
    }
    const key = `${pod?.metadata?.uid ?? ''}/${image}`;
    const failed = this.backoff.get(key);
    if (failed && this.now() < failed.until) {
      record('Normal', 'BackOff', `Back-off pulling image "${image}"`);
      throw new ImageError('ImagePullBackOff', `Back-off pulling image "${image}": ErrImagePull: ${failed.reason}`);
    }
    record('Normal', 'Pulling', `Pulling image "${image}"`);
    const started = this.now();
    try {
      // Each credential the pod's pull secrets hold for the image's registry in turn; none: anonymous.
      const credentials = pod ? await pullCredentials(this.client, pod, image) : [];
      let failure: unknown;
      for (const auth of credentials.length ? credentials : [undefined]) {
        try {
          await this.images.pullImage(image, auth);
          failure = undefined;
          break;
        } catch (err) {
          failure = err;
        }
      }
      if (failure) throw failure;
    } catch (err) {
      const message = (err as Error).message;
      const reason = message.startsWith(`pulling ${image}: `) ? message.slice(`pulling ${image}: `.length) : message;
      const delayMs = failed ? Math.min(failed.delayMs * 2, BACKOFF_MAX_MS) : BACKOFF_INITIAL_MS;
      this.backoff.set(key, { until: this.now() + delayMs, delayMs, reason });
      record('Warning', 'Failed', `Failed to pull image "${image}": ${reason}`);
      throw new ImageError('ErrImagePull', (err as Error).message);
    }
    this.backoff.delete(key);
    const took = goMillis(this.now() - started);
    const size = await this.images.imageSize(image);
    record(
      'Normal',
      'Pulled',
      `Successfully pulled image "${image}" in ${took} (${took} including waiting).${size !== undefined ? ` Image size: ${size} bytes.` : ''}`,
    );
  }

  /** Forget a pod's back-offs (it is gone). */
  forget(podUid: string): void {
    for (const key of this.backoff.keys()) if (key.startsWith(`${podUid}/`)) this.backoff.delete(key);
  }
}
