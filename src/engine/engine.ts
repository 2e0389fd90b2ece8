/**
 * The engine: wires the content store, snapshotter, image metadata, registry client and event bus
 * under one data root, and exposes the services the API routers call. Layout of the data root:
 *
 *   content/     blobs by digest (content store)
 *   snapshots/   unpacked layers by chain ID
 *   image/       image records and references
 *   containers/  container records, logs and generated /etc files
 *   network/     network records and IPAM leases
 *   volumes/     named and anonymous volumes (<name>/_data)
 *   build/       build cache index, contexts being built
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../common/log.js';
import { ContainerStore } from '../containers/store.js';
import { FileContentStore } from '../content/store.js';
import { ImageStore } from '../images/store.js';
import { RegistryClient } from '../registry/client.js';
import { OverlaySnapshotter } from '../snapshots/store.js';
import { EventBus } from './events.js';
import { ImageService } from './images/service.js';
import { ContainerService } from './containers/service.js';
import { crunUsable, findBinary, OciRuntime } from '../runtime/runtime.js';
import { findPluginDir } from '../network/cni.js';
import { NetworkService } from '../network/service.js';
import { VolumeStore } from '../volumes/store.js';
import { Builder } from '../build/builder.js';
import type { ExtractLimits } from '../diff/apply.js';

export interface EngineConfig {
  dataRoot: string;
  /** Per-boot state (bundles, runtime state, exit files, sockets); default /run/gantry. */
  execRoot: string;
  /** `crun` or `runc`; default crun where it works on this host, else runc. */
  defaultRuntime?: string;
  insecureRegistries: string[];
  registryMirrors: string[];
  logger: Logger;
  /** Default bridge device and address (`--bridge`, `--bip`), and the pool of user-defined networks. */
  network?: { bridgeName?: string; bridgeCidr?: string; addressPool?: { base: string; size: number } };
  /** Caps on what one layer and one build context may unpack to (decompression bombs). */
  limits?: { layer?: ExtractLimits; context?: ExtractLimits };
}

/** Generous defaults: far above real images, far below what fills a disk by surprise. */
export const DEFAULT_LIMITS: { layer: Required<ExtractLimits>; context: Required<ExtractLimits> } = {
  layer: { maxBytes: 32 * 1024 ** 3, maxEntries: 2_000_000 },
  context: { maxBytes: 16 * 1024 ** 3, maxEntries: 1_000_000 },
};

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
    readonly containers: ContainerService,
    readonly networks: NetworkService,
    readonly volumes: VolumeStore,
    readonly builder: Builder,
    readonly defaultRuntime: string,
  ) {}

  static async open(config: EngineConfig): Promise<Engine> {
    const root = config.dataRoot;
    await fs.mkdir(root, { recursive: true, mode: 0o711 });
    await fs.mkdir(config.execRoot, { recursive: true, mode: 0o700 });
    const idFile = path.join(root, 'engine-id');
    let id: string;
    try {
      id = (await fs.readFile(idFile, 'utf8')).trim();
    } catch {
      id = randomBytes(16)
        .toString('hex')
        .toUpperCase()
        .replace(/(.{4})(?!$)/g, '$1:')
        .slice(0, 39);
      await fs.writeFile(idFile, id);
    }
    const content = await FileContentStore.open(path.join(root, 'content'));
    const snapshots = await OverlaySnapshotter.open(path.join(root, 'snapshots'));
    const imageStore = await ImageStore.open(path.join(root, 'image'));
    const registry = new RegistryClient({
      insecureRegistries: config.insecureRegistries,
      mirrors: config.registryMirrors,
    });
    const events = new EventBus();
    // The image service asks which images containers use; the container service is built after it.
    const late: { containers?: ContainerService } = {};
    const images = new ImageService({
      content,
      snapshots,
      images: imageStore,
      registry,
      events,
      logger: config.logger,
      containersUsing: (id) => late.containers?.usingImage(id) ?? [],
      liveSnapshots: () => late.containers?.liveChains() ?? [],
      layerLimits: { ...DEFAULT_LIMITS.layer, ...config.limits?.layer },
    });
    const runtimes = new Map<string, OciRuntime>();
    for (const name of ['runc', 'crun']) {
      const bin = findBinary(name);
      if (bin) runtimes.set(name, new OciRuntime(name, bin, path.join(config.execRoot, name), config.logger));
    }
    const crun = crunUsable();
    let defaultRuntime = config.defaultRuntime ?? (crun.ok && runtimes.has('crun') ? 'crun' : 'runc');
    if (defaultRuntime === 'crun' && !crun.ok) {
      config.logger.warn({ reason: crun.reason }, 'crun cannot run containers on this host; using runc');
      defaultRuntime = 'runc';
      runtimes.delete('crun');
    } else if (!config.defaultRuntime && !crun.ok) {
      config.logger.info({ reason: crun.reason }, 'using runc as the default runtime');
      runtimes.delete('crun');
    }
    if (!runtimes.has(defaultRuntime))
      throw new Error(`OCI runtime ${defaultRuntime} is not installed (apt-get install ${defaultRuntime})`);
    const conmon = findBinary('conmon');
    if (!conmon) throw new Error('conmon is not installed (apt-get install conmon)');
    const pluginDir = findPluginDir();
    if (!pluginDir) throw new Error('the CNI plugins are not installed (apt-get install containernetworking-plugins)');
    const containerStore = await ContainerStore.open(path.join(root, 'containers'));
    const networks = await NetworkService.open({
      dataRoot: root,
      execRoot: config.execRoot,
      pluginDir,
      logger: config.logger,
      bridgeName: config.network?.bridgeName ?? 'gantry0',
      bridgeCidr: config.network?.bridgeCidr ?? '172.17.0.1/16',
      addressPool: config.network?.addressPool ?? { base: '172.18.0.0/16', size: 24 },
      containers: () => containerStore.list(),
      publish: (action, net, extra) =>
        events.publish('network', action, net.Id, { name: net.Name, type: net.Driver, ...extra }),
    });
    const volumes = await VolumeStore.open(
      path.join(root, 'volumes'),
      (name) => late.containers?.usingVolume(name) ?? [],
    );
    const containers = new ContainerService({
      networks,
      volumes,
      store: containerStore,
      images,
      snapshots,
      runtimes,
      defaultRuntime,
      events,
      logger: config.logger,
      paths: { execRoot: config.execRoot, conmon, initBinary: findBinary('tini-static') },
    });
    late.containers = containers;
    await restrictModes(root, config.execRoot);
    await containers.restore();
    const builder = new Builder({ images, containers, snapshots, dataRoot: root, logger: config.logger });
    await builder.recover();
    // Blobs and layers an interrupted pull or build left, which no image, container or lease holds.
    await images.gc();
    return new Engine(
      config,
      id,
      content,
      snapshots,
      imageStore,
      registry,
      events,
      images,
      containers,
      networks,
      volumes,
      builder,
      defaultRuntime,
    );
  }

  hostname(): string {
    return os.hostname();
  }
}

/**
 * Docker's modes for its state: other users may pass through the data root (0711) but read none of
 * it — writable layers hold setuid files, bundles hold containers' environments — and the exec root is
 * root's alone. Set at every start, so an older or hand-made directory is corrected too.
 */
async function restrictModes(dataRoot: string, execRoot: string): Promise<void> {
  const modes: Array<[string, number]> = [
    [dataRoot, 0o711],
    [path.join(dataRoot, 'content'), 0o700],
    [path.join(dataRoot, 'image'), 0o700],
    [path.join(dataRoot, 'snapshots'), 0o710],
    [path.join(dataRoot, 'containers'), 0o710],
    [path.join(dataRoot, 'volumes'), 0o701],
    [path.join(dataRoot, 'network'), 0o700],
    [path.join(dataRoot, 'build'), 0o700],
    [execRoot, 0o700],
  ];
  for (const [dir, mode] of modes) {
    await fs.mkdir(dir, { recursive: true });
    await fs.chmod(dir, mode);
  }
}
