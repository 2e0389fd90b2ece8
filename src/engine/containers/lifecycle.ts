/** Wait, kill, stop, restart, pause, unpause, rename, remove and prune. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { conflict, invalid } from '../../common/errors.js';
import { type ContainerRecord } from '../../containers/types.js';
import { signalNumber } from '../../runtime/runtime.js';
import { ANONYMOUS_LABEL } from '../../volumes/store.js';
import type { ContainerService } from './service.js';
import type { WaitCondition } from './types.js';
import { sleep } from './util.js';
import { crashPoint } from '../../common/faults.js';

export const lifecycleMethods = {
  /** Resolve when the container has exited (after any in-flight exit handling). */
  waitExit(this: ContainerService, id: string): Promise<void> {
    return new Promise((resolve) => {
      const list = this.exitWaiters.get(id) ?? [];
      list.push(resolve);
      this.exitWaiters.set(id, list);
    });
  },

  async wait(
    this: ContainerService,
    ref: string,
    condition: WaitCondition = 'not-running',
  ): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    const rec = this.d.store.resolve(ref);
    const id = rec.Id;
    const result = (): { StatusCode: number; Error: { Message: string } | null } => {
      const cur = this.d.store.get(id) ?? rec;
      return { StatusCode: cur.State.ExitCode, Error: cur.State.Error ? { Message: cur.State.Error } : null };
    };
    if (condition === 'removed') {
      let last = result();
      const exitHook = (): void => {
        last = result();
      };
      this.exitWaiters.set(id, [...(this.exitWaiters.get(id) ?? []), exitHook]);
      await new Promise<void>((resolve) => {
        this.removeWaiters.set(id, [...(this.removeWaiters.get(id) ?? []), resolve]);
      });
      return last;
    }
    if (condition === 'not-running' && !rec.State.Running && !rec.State.Restarting && !this.starting.has(id))
      return result();
    await this.waitExit(id);
    return result();
  },

  async kill(this: ContainerService, ref: string, signal = 'SIGKILL'): Promise<void> {
    const rec = this.d.store.resolve(ref);
    const sig = signalNumber(signal);
    if (sig === undefined) throw invalid(`Invalid signal: ${signal}`);
    if (!rec.State.Running) throw conflict(`Cannot kill container: ${ref}: Container ${rec.Id} is not running`);
    if (rec.State.Paused && sig === 9)
      await this.runtimeOf(rec)
        .resume(rec.Id)
        .catch(() => undefined);
    await this.runtimeOf(rec).kill(rec.Id, sig);
    this.d.events.publish('container', 'kill', rec.Id, this.eventAttrs(rec, { signal: String(sig) }));
  },

  async stop(this: ContainerService, ref: string, timeoutSec?: number, signal?: string): Promise<boolean> {
    const rec = this.d.store.resolve(ref);
    const timer = this.restartTimers.get(rec.Id);
    if (timer) {
      clearTimeout(timer);
      this.restartTimers.delete(rec.Id);
    }
    rec.manuallyStopped = true;
    if (rec.State.Restarting) {
      rec.State = { ...rec.State, Restarting: false, Status: 'exited' };
      await this.d.store.save(rec);
      return true;
    }
    if (!rec.State.Running) {
      await this.d.store.save(rec);
      return false;
    }
    await this.d.store.save(rec);
    const exited = this.waitExit(rec.Id);
    const sig = signal ?? rec.Config.StopSignal ?? 'SIGTERM';
    const timeout = timeoutSec ?? rec.Config.StopTimeout ?? 10;
    const rt = this.runtimeOf(rec);
    if (rec.State.Paused) await rt.resume(rec.Id).catch(() => undefined);
    if (timeout !== 0) await rt.kill(rec.Id, signalNumber(sig) ?? 15).catch(() => undefined);
    const graceful =
      timeout < 0
        ? await exited.then(() => true)
        : await Promise.race([exited.then(() => true), sleep(timeout * 1000).then(() => false)]);
    if (!graceful) {
      await rt.kill(rec.Id, 9, true).catch(() => undefined);
      await Promise.race([exited, sleep(10000)]);
    }
    this.d.events.publish('container', 'stop', rec.Id, this.eventAttrs(rec));
    return true;
  },

  async restart(this: ContainerService, ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.d.store.resolve(ref);
    await this.stop(rec.Id, timeoutSec, signal);
    await this.start(rec.Id);
    this.d.events.publish('container', 'restart', rec.Id, this.eventAttrs(rec));
  },

  pause(this: ContainerService, ref: string): Promise<void> {
    return this.exclusive(ref, async (rec) => {
      if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
      if (rec.State.Paused) throw conflict(`Container ${rec.Id} is already paused`);
      await this.runtimeOf(rec).pause(rec.Id);
      rec.State = { ...rec.State, Paused: true, Status: 'paused' };
      await this.d.store.save(rec);
      this.d.events.publish('container', 'pause', rec.Id, this.eventAttrs(rec));
    });
  },

  unpause(this: ContainerService, ref: string): Promise<void> {
    return this.exclusive(ref, async (rec) => {
      if (!rec.State.Paused) throw conflict(`Container ${rec.Id} is not paused`);
      await this.runtimeOf(rec).resume(rec.Id);
      rec.State = { ...rec.State, Paused: false, Status: 'running' };
      await this.d.store.save(rec);
      this.d.events.publish('container', 'unpause', rec.Id, this.eventAttrs(rec));
    });
  },

  remove(this: ContainerService, ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    return this.exclusive(ref, (rec) => this.removeHeld(rec, opts));
  },

  /** `remove` by one who already holds the container (a start that fails for an `--rm` container). */
  async removeHeld(
    this: ContainerService,
    rec: ContainerRecord,
    opts: { force?: boolean; volumes?: boolean } = {},
  ): Promise<void> {
    if ((rec.State.Running || rec.State.Restarting) && !opts.force) {
      const what = rec.State.Paused ? 'paused' : rec.State.Restarting ? 'restarting' : 'running';
      throw conflict(
        `cannot remove container "${rec.Name}": container is ${what}: stop the container before removing or force remove`,
      );
    }
    this.removing.add(rec.Id);
    try {
      await this.doRemove(rec);
    } finally {
      this.removing.delete(rec.Id);
    }
    if (opts.volumes) await this.removeAnonymousVolumes(rec);
  },

  async doRemove(this: ContainerService, rec: ContainerRecord): Promise<void> {
    const timer = this.restartTimers.get(rec.Id);
    if (timer) clearTimeout(timer);
    this.restartTimers.delete(rec.Id);
    this.stopHealth(rec.Id);
    this.stopLogRotation(rec.Id);
    rec.manuallyStopped = true;
    rec.HostConfig.AutoRemove = false;
    if (rec.State.Running) {
      const exited = this.waitExit(rec.Id);
      const rt = this.runtimeOf(rec);
      if (rec.State.Paused) await rt.resume(rec.Id).catch(() => undefined);
      await rt.kill(rec.Id, 9, true).catch(() => undefined);
      await Promise.race([exited, sleep(10000)]);
    }
    crashPoint('rm:killed');
    // When `rm` returns nothing of the container may remain: wait for a background runtime delete too.
    await this.pendingDeletes.get(rec.Id);
    await this.runtimeOf(rec)
      .delete(rec.Id, true)
      .catch(() => undefined);
    crashPoint('rm:runtime-deleted');
    await this.d.networks.tearDown(rec);
    // What the record never learnt it holds (a connect or start cut off before its save) goes too.
    await this.d.networks.purge(rec.Id);
    crashPoint('rm:network');
    await this.d.snapshots.removeActive(rec.Id);
    await fs.rm(this.bundleDir(rec.Id), { recursive: true, force: true });
    await fs.rm(path.join(this.socketDir(), this.sessionId(rec.Id)), { recursive: true, force: true });
    await this.d.store.delete(rec.Id);
    // A copy or export that mounted the root while removal began has released it by now.
    await this.d.snapshots.removeActive(rec.Id);
    this.d.events.publish('container', 'destroy', rec.Id, this.eventAttrs(rec));
    for (const w of this.removeWaiters.get(rec.Id) ?? []) w();
    this.removeWaiters.delete(rec.Id);
    this.exitWaiters.delete(rec.Id);
  },

  /** Anonymous volumes go with their container (`rm -v`, `--rm`); named ones stay. */
  async removeAnonymousVolumes(this: ContainerService, rec: ContainerRecord): Promise<void> {
    for (const m of rec.Mounts ?? []) {
      if (m.Type !== 'volume' || !m.Name || !this.d.volumes.has(m.Name)) continue;
      const v = this.d.volumes.get(m.Name);
      if (v.Labels && ANONYMOUS_LABEL in v.Labels)
        await this.d.volumes
          .remove(m.Name)
          .catch((err: unknown) => this.d.logger.warn({ volume: m.Name, err: String(err) }, 'volume not removed'));
    }
  },

  /** Names of containers using a volume (any state), for `volume rm` conflicts. */
  usingVolume(this: ContainerService, name: string): string[] {
    return this.d.store
      .list()
      .filter((c) => c.Mounts?.some((m) => m.Name === name))
      .map((c) => c.Id);
  },

  rename(this: ContainerService, ref: string, newName: string): Promise<void> {
    return this.exclusive(ref, async (rec) => {
      const name = this.d.store.allocateName(newName, rec.Id);
      const old = rec.Name;
      rec.Name = name;
      await this.d.store.save(rec);
      this.d.events.publish('container', 'rename', rec.Id, this.eventAttrs(rec, { oldName: old }));
    });
  },

  async prune(
    this: ContainerService,
    until?: number,
  ): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const rec of this.d.store.list()) {
      if (rec.State.Running || rec.State.Restarting) continue;
      if (until !== undefined && Date.parse(rec.Created) >= until) continue;
      space += await this.sizeRw(rec.Id);
      await this.remove(rec.Id);
      deleted.push(rec.Id);
    }
    return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: space };
  },
};
