/**
 * What an engine killed in the middle of an operation leaves behind, put right at its next start. As
 * containerd does with its leases, the container records are the intent and the world is reconciled
 * to them, both ways:
 * - a record that is not running holds nothing: no runtime state, no conmon, no network (namespace
 *   pin, address lease, veth), no mounted root — a `run` cut off between mounting, conmon and saving
 *   the record comes back a clean `Created`;
 * - what no record names is removed: runtime state, bundles, network holdings, active snapshots and
 *   half-written container directories (a create cut off before its record was saved).
 * Records that are running are left to `restore`, which adopts them or records their exit.
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { shortId } from '../../common/digest.js';
import type { ContainerRecord } from '../../containers/types.js';
import type { ContainerService } from './service.js';
import { releaseSubpathMounts } from './start.js';

const ID = /^[0-9a-f]{64}$/;

const idsIn = async (dir: string): Promise<string[]> =>
  (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => ID.test(f));

/** Whether `pid` is a conmon serving container `id` (a pid file may outlive its process, and pids are reused). */
function isConmonOf(pid: number, id: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('conmon') && cmdline.includes(id);
  } catch {
    return false;
  }
}

export const recoverMethods = {
  async reconcile(this: ContainerService): Promise<void> {
    await releaseSubpathMounts(this.subpathDir());
    const records = new Map(this.d.store.list().map((r) => [r.Id, r]));
    const holding = await this.d.networks.holders();
    for (const rec of records.values())
      if (!rec.State.Running && !rec.State.Paused && !rec.State.Restarting)
        await this.release(rec.Id, holding.has(rec.Id), rec);
    const leftovers = new Set<string>(holding);
    for (const rt of this.d.runtimes.values()) for (const id of await idsIn(rt.root)) leftovers.add(id);
    for (const id of await idsIn(path.join(this.d.paths.execRoot, 'bundles'))) leftovers.add(id);
    for (const id of await idsIn(this.d.store.root)) leftovers.add(id);
    for (const id of await this.d.snapshots.listActive()) leftovers.add(id);
    for (const id of leftovers) {
      if (records.has(id) || !ID.test(id)) continue;
      this.d.logger.info({ id: shortId(id) }, 'removing what an interrupted operation left');
      await this.release(id, true);
    }
  },

  /**
   * Free everything of container `id` but its record: runtime state and conmon, network (when it
   * `holdsNetwork`, or its record says so), mounted root, bundle. Without a record (`rec` absent) its
   * snapshot and directory go too.
   */
  async release(this: ContainerService, id: string, holdsNetwork: boolean, rec?: ContainerRecord): Promise<void> {
    const warn = (what: string) => (err: unknown) =>
      this.d.logger.warn({ id: shortId(id), err: String(err) }, `recovery: ${what} failed`);
    const bundle = this.bundleDir(id);
    const conmonPid = Number(await fs.readFile(path.join(bundle, 'conmon.pid'), 'utf8').catch(() => ''));
    for (const rt of this.d.runtimes.values()) {
      if (!rt.hasState(id)) continue;
      await rt.kill(id, 9, true).catch(() => undefined);
      await rt.delete(id, true).catch(warn('runtime delete'));
    }
    if (conmonPid > 0 && isConmonOf(conmonPid, id)) {
      try {
        process.kill(conmonPid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    const recorded = !!rec?.netState;
    if (rec && recorded) await this.d.networks.tearDown(rec).catch(warn('network teardown'));
    if (holdsNetwork || recorded) await this.d.networks.purge(id).catch(warn('network purge'));
    await this.d.snapshots.unmount(id).catch(warn('unmount'));
    await fs.rm(bundle, { recursive: true, force: true });
    if (rec) {
      // The record no longer claims a network it does not hold.
      if (recorded) await this.d.store.save(rec).catch(warn('saving the record'));
      return;
    }
    await this.d.snapshots.removeActive(id).catch(warn('snapshot removal'));
    await fs.rm(this.d.store.dir(id), { recursive: true, force: true });
  },
};
