/** The container service: its shared state, and its methods gathered from a file per concern. */
import { watch } from 'node:fs';
import path from 'node:path';
import { type ContainerRecord } from '../../containers/types.js';
import { OciRuntime } from '../../runtime/runtime.js';
import { monitorMethods } from './monitor.js';
import { createMethods } from './create.js';
import { startMethods } from './start.js';
import { lifecycleMethods } from './lifecycle.js';
import { updateMethods } from './update.js';
import { attachMethods } from './attach.js';
import { execMethods } from './exec.js';
import { healthMethods } from './health.js';
import { logrotateMethods } from './logrotate.js';
import { archiveMethods } from './archive.js';
import { linkMethods } from './links.js';
import { commitMethods } from './commit.js';
import { statsMethods } from './stats.js';
import { recoverMethods } from './recover.js';
import type { ContainerServiceDeps, ExecSession } from './types.js';

const STATE_ORDER: Record<string, number> = { running: 0, paused: 1, restarting: 2, created: 3, exited: 4, dead: 5 };

/**
 * The container service: create, start, stop, kill, restart, remove, wait, list, inspect, attach,
 * exec, rename, pause, top, update and prune, over the snapshotter (writable overlay roots), the OCI
 * runtime and conmon. Every state change is saved before it is acknowledged; conmon's exit files tell
 * the engine when processes end, including while the engine was down (they are read back at start).
 *
 * As moby's daemon, one type whose methods live in a file per concern (`create`, `start`, `lifecycle`,
 * `exec`, `attach`, `health`, `logrotate`, `archive`, `commit`, `stats`, `update`, `monitor`); the
 * state below is shared by them and is not for callers outside `engine/containers`.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class ContainerService {
  readonly exitWaiters = new Map<string, Array<() => void>>();
  readonly removeWaiters = new Map<string, Array<() => void>>();
  /** Attachments requested before start, connected once conmon's socket exists. */
  readonly pendingAttach = new Map<string, Array<(sock: string) => void>>();
  readonly execs = new Map<string, ExecSession>();
  readonly restartTimers = new Map<string, NodeJS.Timeout>();
  readonly starting = new Set<string>();
  readonly healthTimers = new Map<string, NodeJS.Timeout>();
  readonly logTimers = new Map<string, NodeJS.Timeout>();
  /** Runtime deletes running in the background after an exit (awaited by a restart, not by removal). */
  readonly pendingDeletes = new Map<string, Promise<void>>();
  /** Containers being removed: nothing may mount their root any more. */
  readonly removing = new Set<string>();
  exitWatcher?: ReturnType<typeof watch>;
  /** Told each health check's outcome (the engine's metrics count them). */
  onHealthCheck?: (passed: boolean) => void;

  /** The tail of each container's queue of state changes (see `exclusive`). */
  private readonly locks = new Map<string, Promise<void>>();

  constructor(readonly d: ContainerServiceDeps) {}

  /**
   * Run `fn` on the container alone among its state changes — start, remove, commit, pause, unpause,
   * update, rename — as Docker's per-container lock does: two commits, a commit and a pause, a start
   * and a removal happen one after the other. `fn` gets the record as it is once its turn comes (a
   * container removed meanwhile is a 404 then).
   */
  async exclusive<T>(ref: string, fn: (rec: ContainerRecord) => Promise<T>): Promise<T> {
    const id = this.d.store.resolve(ref).Id;
    const previous = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    this.locks.set(id, tail);
    await previous;
    try {
      return await fn(this.d.store.resolve(id));
    } finally {
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  get exitDir(): string {
    return path.join(this.d.paths.execRoot, 'exits');
  }

  bundleDir(id: string): string {
    return path.join(this.d.paths.execRoot, 'bundles', id);
  }

  /** Where subpath mount sources are bind-mounted while a start makes its mounts. */
  subpathDir(): string {
    return path.join(this.d.paths.execRoot, 'subpaths');
  }

  socketDir(): string {
    return path.join(this.d.paths.execRoot, 's');
  }

  sessionId(id: string): string {
    return id.slice(0, 16);
  }

  attachSocketPath(id: string): string {
    return path.join(this.socketDir(), this.sessionId(id), 'attach');
  }

  runtimeOf(rec: ContainerRecord): OciRuntime {
    const rt = this.d.runtimes.get(rec.runtime) ?? this.d.runtimes.get(this.d.defaultRuntime)!;
    return rt;
  }

  list(): ContainerRecord[] {
    return this.d.store.list();
  }

  resolve(ref: string): ContainerRecord {
    return this.d.store.resolve(ref);
  }

  /** Containers whose image is `imageId` (for rmi conflicts and `docker images` counts). */
  usingImage(imageId: string): string[] {
    return this.d.store
      .list()
      .filter((c) => c.Image === imageId)
      .map((c) => c.Id);
  }

  liveChains(): string[] {
    return this.d.store.list().map((c) => c.chainId);
  }

  eventAttrs(rec: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...rec.Config.Labels, image: rec.Config.Image ?? '', name: rec.Name.slice(1), ...extra };
  }

  /** Order for `docker ps`: newest first. */
  sorted(): ContainerRecord[] {
    return this.d.store
      .list()
      .sort(
        (a, b) =>
          Date.parse(b.Created) - Date.parse(a.Created) ||
          (STATE_ORDER[a.State.Status] ?? 9) - (STATE_ORDER[b.State.Status] ?? 9),
      );
  }
}

type MonitorMethods = typeof monitorMethods;
type CreateMethods = typeof createMethods;
type StartMethods = typeof startMethods;
type LifecycleMethods = typeof lifecycleMethods;
type UpdateMethods = typeof updateMethods;
type AttachMethods = typeof attachMethods;
type ExecMethods = typeof execMethods;
type HealthMethods = typeof healthMethods;
type LogrotateMethods = typeof logrotateMethods;
type ArchiveMethods = typeof archiveMethods;
type LinkMethods = typeof linkMethods;
type CommitMethods = typeof commitMethods;
type StatsMethods = typeof statsMethods;
type RecoverMethods = typeof recoverMethods;
// The methods of the files above, declared on the class (the merge is what makes them its own).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface ContainerService
  extends
    MonitorMethods,
    CreateMethods,
    StartMethods,
    LifecycleMethods,
    UpdateMethods,
    AttachMethods,
    ExecMethods,
    HealthMethods,
    LogrotateMethods,
    ArchiveMethods,
    LinkMethods,
    CommitMethods,
    StatsMethods,
    RecoverMethods {}

Object.assign(
  ContainerService.prototype,
  monitorMethods,
  createMethods,
  startMethods,
  lifecycleMethods,
  updateMethods,
  attachMethods,
  execMethods,
  healthMethods,
  logrotateMethods,
  archiveMethods,
  linkMethods,
  commitMethods,
  statsMethods,
  recoverMethods,
);
