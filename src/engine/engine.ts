/**
 * The engine: wires the content store, snapshotter, image metadata, registry client and event bus
 * under one data root, and exposes the services the API routers call. Layout of the data root:
 *
 *   content/     blobs by digest (content store)
 *   snapshots/   unpacked layers by chain ID
 *   image/       image records and references
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../common/log.js';
import { FileContentStore } from '../content/store.js';
import { ImageStore } from '../images/store.js';
import { RegistryClient } from '../registry/client.js';
import { OverlaySnapshotter } from '../snapshots/store.js';
import { EventBus } from './events.js';
import { ImageService } from './images.js';

export interface EngineConfig {
  dataRoot: string;
  insecureRegistries: string[];
  registryMirrors: string[];
  logger: Logger;
}

export class Engine {
  readonly startedAt = new Date();

  private constructor(
    readonly config: EngineConfig,
    readonly id: string,
    readonly content: FileContentStore,
    readonly snapshots: OverlaySnapshotter,
    readonly imageStore: ImageStore,
    readonly registry: RegistryClient,
    readonly events: EventBus,
    readonly images: ImageService,
  ) {}

  static async open(config: EngineConfig): Promise<Engine> {
    const root = config.dataRoot;
    await fs.mkdir(root, { recursive: true, mode: 0o711 });
    const idFile = path.join(root, 'engine-id');
    let id: string;
    try {
      id = (await fs.readFile(idFile, 'utf8')).trim();
    } catch {
      id = randomBytes(16).toString('hex').toUpperCase().replace(/(.{4})(?!$)/g, '$1:').slice(0, 39);
      await fs.writeFile(idFile, id);
    }
    const content = await FileContentStore.open(path.join(root, 'content'));
    const snapshots = await OverlaySnapshotter.open(path.join(root, 'snapshots'));
    const imageStore = await ImageStore.open(path.join(root, 'image'));
    const registry = new RegistryClient({ insecureRegistries: config.insecureRegistries, mirrors: config.registryMirrors });
    const events = new EventBus();
    const images = new ImageService({ content, snapshots, images: imageStore, registry, events, logger: config.logger });
    return new Engine(config, id, content, snapshots, imageStore, registry, events, images);
  }

  hostname(): string {
    return os.hostname();
  }
}
