/** The image service's dependencies and answers. */
import type { Logger } from '../../common/log.js';
import type { ContentStore } from '../../content/store.js';
import type { ImageStore } from '../../images/store.js';
import { type RegistryClient } from '../../registry/client.js';
import type { Snapshotter } from '../../snapshots/store.js';
import type { EventBus } from '../events.js';
import type { ExtractLimits } from '../../diff/apply.js';

export interface ImageServiceDeps {
  content: ContentStore;
  snapshots: Snapshotter;
  images: ImageStore;
  registry: RegistryClient;
  events: EventBus;
  logger: Logger;
  /** IDs of containers using an image (filled in by the container service). */
  containersUsing?: (imageId: string) => string[];
  /** Snapshots that containers hold (their image's chain), kept by GC. */
  liveSnapshots?: () => Iterable<string>;
  /** Caps on an unpacked layer (decompression bombs). */
  layerLimits?: ExtractLimits;
}

/** `docker images` row (API ImageSummary). */
export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Record<string, string> | null;
  Containers: number;
}

export type { ImageRecord } from '../../images/store.js';
