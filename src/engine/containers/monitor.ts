/** Engine start and container exits: adopting running containers, exit files from conmon (also those written while the engine was down), restart policies. */
import { promises as fs, watch } from 'node:fs';
import path from 'node:path';
import { shortId } from '../../common/digest.js';
import { ZERO_TIME, type ContainerRecord } from '../../containers/types.js';
import type { ContainerService } from './service.js';
import { oomKilled, volumeEventAttrs } from './util.js';

export const monitorMethods = {
  /** Read back state after a (re)start of the engine: adopt running containers, record exits. */
  async restore(this: ContainerService): Promise<void> {
    for (const dir of [this.exitDir, this.socketDir(), path.join(this.d.paths.execRoot, 'bundles')])
      await fs.mkdir(dir, { recursive: true });
    this.exitWatcher = watch(this.exitDir, (_ev, file) => {
      if (file) void this.onExitFile(file.toString());
    });
    await this.reconcile();
    for (const rec of this.d.store.list()) {
      if (!rec.State.Running && !rec.State.Paused && !rec.State.Restarting) continue;
      const rt = this.runtimeOf(rec);
      const st = await rt.state(rec.Id);
      if (st && (st.status === 'running' || st.status === 'paused')) {
        this.d.logger.info({ id: shortId(rec.Id) }, 'adopted running container');
        await this.d.networks.restore(rec);
        this.startHealth(rec);
        this.startLogRotation(rec);
        continue;
      }
      const code = await this.readExitCode(rec.Id);
      await this.handleExit(
        rec.Id,
        code ?? 255,
        code === undefined ? 'container exited while the engine was down; exit code lost' : '',
      );
    }
    for (const f of await fs.readdir(this.exitDir)) void this.onExitFile(f);
    for (const rec of this.d.store.list()) {
      const policy = rec.HostConfig.RestartPolicy?.Name;
      if (
        !rec.State.Running &&
        (policy === 'always' || (policy === 'unless-stopped' && !rec.manuallyStopped)) &&
        rec.State.StartedAt !== ZERO_TIME
      ) {
        this.start(rec.Id).catch((err: unknown) =>
          this.d.logger.warn({ id: shortId(rec.Id), err: String(err) }, 'restart at engine start failed'),
        );
      }
    }
  },

  close(this: ContainerService): void {
    this.exitWatcher?.close();
    for (const t of this.healthTimers.values()) clearTimeout(t);
    for (const t of this.logTimers.values()) clearInterval(t);
    for (const t of this.restartTimers.values()) clearTimeout(t);
  },

  async readExitCode(this: ContainerService, id: string): Promise<number | undefined> {
    for (const f of [path.join(this.exitDir, id), path.join(this.d.store.dir(id), 'persist', 'exit')]) {
      try {
        const v = (await fs.readFile(f, 'utf8')).trim();
        if (v !== '') return Number(v);
      } catch {
        // Try the next place.
      }
    }
    return undefined;
  },

  async onExitFile(this: ContainerService, file: string): Promise<void> {
    const p = path.join(this.exitDir, file);
    let code: number;
    try {
      const v = (await fs.readFile(p, 'utf8')).trim();
      if (v === '') return;
      code = Number(v);
    } catch {
      return;
    }
    const rec = this.d.store.get(file);
    if (!rec) return;
    await fs.rm(p, { force: true });
    if (rec.State.Running || rec.State.Paused) await this.handleExit(rec.Id, code, '');
  },

  async handleExit(this: ContainerService, id: string, code: number, error: string): Promise<void> {
    const rec = this.d.store.get(id);
    if (!rec) return;
    this.stopHealth(id);
    this.stopLogRotation(id);
    const rt = this.runtimeOf(rec);
    const oom = await oomKilled(id);
    // The runtime's state is cleaned in the background so exit waiters hear sooner; a restart or a
    // removal of this container awaits it first.
    const deleting = rt
      .delete(id, true)
      .catch(() => undefined)
      .finally(() => this.pendingDeletes.delete(id));
    this.pendingDeletes.set(id, deleting);
    await this.d.networks.tearDown(rec);
    await this.d.snapshots
      .unmount(id)
      .catch((err: unknown) => this.d.logger.warn({ id: shortId(id), err: String(err) }, 'unmount failed'));
    rec.State = {
      ...rec.State,
      Status: 'exited',
      Running: false,
      Paused: false,
      Restarting: false,
      OOMKilled: oom,
      Pid: 0,
      ExitCode: code,
      Error: error,
      FinishedAt: new Date().toISOString(),
    };
    await this.d.store.save(rec);
    await fs.rm(this.bundleDir(id), { recursive: true, force: true });
    if (oom) this.d.events.publish('container', 'oom', id, this.eventAttrs(rec));
    this.d.events.publish('container', 'die', id, this.eventAttrs(rec, { exitCode: String(code) }));
    for (const m of rec.Mounts ?? [])
      if (m.Type === 'volume') this.d.events.publish('volume', 'unmount', m.Name ?? '', volumeEventAttrs(rec, m));
    for (const w of this.exitWaiters.get(id) ?? []) w();
    this.exitWaiters.delete(id);
    if (rec.HostConfig.AutoRemove) {
      // `--rm` takes the container's anonymous volumes with it, as Docker does.
      await this.remove(id, { force: true, volumes: true }).catch((err: unknown) =>
        this.d.logger.warn({ id: shortId(id), err: String(err) }, 'auto-remove failed'),
      );
      return;
    }
    this.maybeRestart(rec);
  },

  maybeRestart(this: ContainerService, rec: ContainerRecord): void {
    const p = rec.HostConfig.RestartPolicy ?? { Name: 'no' };
    if (rec.manuallyStopped) return;
    const code = rec.State.ExitCode;
    let restart = false;
    if (p.Name === 'always' || p.Name === 'unless-stopped') restart = true;
    if (p.Name === 'on-failure' && code !== 0) restart = !p.MaximumRetryCount || rec.RestartCount < p.MaximumRetryCount;
    if (!restart) return;
    // Docker's backoff: 100 ms doubling per restart, capped at one minute.
    const delay = Math.min(60000, 100 * 2 ** Math.min(rec.RestartCount, 10));
    rec.State = { ...rec.State, Status: 'restarting', Restarting: true };
    void this.d.store.save(rec);
    const t = setTimeout(() => {
      this.restartTimers.delete(rec.Id);
      const cur = this.d.store.get(rec.Id);
      if (!cur || cur.manuallyStopped || !cur.State.Restarting) return;
      cur.RestartCount++;
      cur.State.Restarting = false;
      this.start(cur.Id).then(
        () => this.d.events.publish('container', 'restart', cur.Id, this.eventAttrs(cur)),
        (err: unknown) => this.d.logger.warn({ id: shortId(cur.Id), err: String(err) }, 'restart failed'),
      );
    }, delay);
    this.restartTimers.set(rec.Id, t);
  },
};
