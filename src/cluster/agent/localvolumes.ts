/**
 * The node's part of the built-in local-path provisioner: when a local-path volume made on this node is
 * deleted, its folder is removed here, then the volume's finalizer, so the deletion completes (what
 * local-path-provisioner's helper pod does in k3s). The folder must be the provisioner's own
 * (`<root>/pvc-<uid>_<namespace>_<claim>` of that volume): a volume naming any other path is left alone.
 */
import { lstat, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import { keyOf, type KObject } from '../api/object.js';
import { LOCAL_PATH_FINALIZER, LOCAL_PATH_NODE, volumeSpec } from '../api/volume.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { WorkQueue } from '../controllers/controller.js';

const PV_NAME = /^pvc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The folder of a local-path volume, when it is the provisioner's own naming. */
export function ownedFolder(pv: KObject): string | undefined {
  const name = pv.metadata?.name ?? '';
  const folder = volumeSpec(pv).hostPath?.path;
  if (!PV_NAME.test(name) || !folder || !path.isAbsolute(folder) || path.normalize(folder) !== folder) return undefined;
  return path.basename(folder).startsWith(`${name}_`) ? folder : undefined;
}

export class LocalVolumeCleaner {
  readonly volumes: Informer;
  private readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {
    this.volumes = new Informer(client, collectionPath('v1', 'persistentvolumes'), logger);
    const seen = (pv: KObject): void => {
      if (this.mine(pv) && pv.metadata?.deletionTimestamp) this.queue.add(keyOf(pv));
    };
    this.volumes.on({ add: seen, update: (_old, pv) => seen(pv) });
  }

  private mine(pv: KObject): boolean {
    return (
      pv.metadata?.annotations?.[LOCAL_PATH_NODE] === this.nodeName &&
      !!pv.metadata.finalizers?.includes(LOCAL_PATH_FINALIZER)
    );
  }

  start(): void {
    this.volumes.start();
    void this.queue.run('local-volume-cleaner', (key) => this.sync(key), this.logger, 1);
  }

  stop(): void {
    this.queue.stop();
    this.volumes.stop();
  }

  async sync(name: string): Promise<void> {
    const pv = this.volumes.get(name);
    if (!pv || !this.mine(pv) || !pv.metadata?.deletionTimestamp) return;
    const folder = ownedFolder(pv);
    if (folder) {
      // A symlink left in the folder's place is removed itself, never followed.
      const st = await lstat(folder).catch(() => undefined);
      if (st?.isSymbolicLink()) await unlink(folder);
      else if (st) await rm(folder, { recursive: true, force: true });
    } else this.logger.warn({ volume: name }, 'local-path volume names a folder not its own: left in place');
    await this.client
      .update(`${collectionPath('v1', 'persistentvolumes')}/${name}`, {
        ...pv,
        metadata: { ...pv.metadata, finalizers: pv.metadata.finalizers!.filter((f) => f !== LOCAL_PATH_FINALIZER) },
      })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
}
