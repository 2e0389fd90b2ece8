/**
 * The container service: create, start, stop, kill, restart, remove, wait, list, inspect, attach,
 * exec, rename, pause, top, update and prune, over the snapshotter (writable overlay roots), the OCI
 * runtime and conmon. Every state change is saved before it is acknowledged; conmon's exit files tell
 * the engine when processes end, including while the engine was down (they are read back at start).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants as fsConstants,
  existsSync,
  fstatSync,
  promises as fs,
  readlinkSync,
  watch,
} from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { chainIds, shortId } from '../common/digest.js';
import { conflict, GantryError, invalid, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { ConfinedDir, fdPath } from '../common/confined.js';
import { ContainerStore } from '../containers/store.js';
import { extractTar } from '../diff/apply.js';
import {
  emptyState,
  ZERO_TIME,
  type ContainerConfig,
  type ContainerRecord,
  type HostConfig,
} from '../containers/types.js';
import { parseWithDefaultTag, familiarString } from '../images/reference.js';
import { connectAttach, type AttachConnection } from '../runtime/attach.js';
import { buildSpec, cgroupResources, computeCaps, type OciMount } from '../runtime/spec.js';
import { packDirectory, packPath } from '../diff/archive.js';
import { statInRoot } from '../containers/paths.js';
import { spawn } from 'node:child_process';
import { changes, packUpper, type Change } from '../diff/overlay.js';
import { applyChanges } from '../images/changes.js';
import type { Descriptor, ImageConfig } from '../images/oci.js';
import { storeLayer } from './layers.js';
import os from 'node:os';
import { launchConmon, OciRuntime, signalNumber } from '../runtime/runtime.js';
import { resolveUser } from '../runtime/user.js';
import type { OverlaySnapshotter } from '../snapshots/store.js';
import type { EventBus } from './events.js';
import type { ImageService } from './images.js';
import type { NetworkService } from '../network/service.js';
import { ANONYMOUS_LABEL, type VolumeStore } from '../volumes/store.js';
import { resolveMounts, type MountRequest } from '../volumes/mounts.js';
import { validateCreate, validateResources } from '../containers/validate.js';

export interface ContainerPaths {
  /** Per-boot state: bundles, runtime root, exit files, attach sockets. */
  execRoot: string;
  conmon: string;
  /** Static init binary for `--init` (tini-static). */
  initBinary?: string;
}

export interface ContainerServiceDeps {
  store: ContainerStore;
  images: ImageService;
  snapshots: OverlaySnapshotter;
  runtimes: Map<string, OciRuntime>;
  defaultRuntime: string;
  events: EventBus;
  logger: Logger;
  paths: ContainerPaths;
  networks: NetworkService;
  volumes: VolumeStore;
}

export interface CreateRequest extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: {
    EndpointsConfig?: Record<
      string,
      { Aliases?: string[] | null; Links?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null }
    >;
  } | null;
}

export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

/** A live attachment: output chunks, optional stdin, ends when the process's output ends. */
export interface Attachment {
  output: Readable; // objectMode: OutputChunk
  stdin?: Writable;
  close(): void;
}

interface ExecSession {
  id: string;
  containerId: string;
  config: {
    Cmd: string[];
    Env?: string[];
    WorkingDir?: string;
    User?: string;
    Tty?: boolean;
    AttachStdin?: boolean;
    AttachStdout?: boolean;
    AttachStderr?: boolean;
    Privileged?: boolean;
    DetachKeys?: string;
  };
  running: boolean;
  exitCode: number | null;
  pid: number;
  done: Promise<void>;
  resolveDone: () => void;
  ctl?: string;
}

type WaitCondition = 'not-running' | 'next-exit' | 'removed';

const STATE_ORDER: Record<string, number> = { running: 0, paused: 1, restarting: 2, created: 3, exited: 4, dead: 5 };

export class ContainerService {
  private readonly exitWaiters = new Map<string, Array<() => void>>();
  private readonly removeWaiters = new Map<string, Array<() => void>>();
  /** Attachments requested before start, connected once conmon's socket exists. */
  private readonly pendingAttach = new Map<string, Array<(sock: string) => void>>();
  private readonly execs = new Map<string, ExecSession>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly starting = new Set<string>();
  private readonly healthTimers = new Map<string, NodeJS.Timeout>();
  private readonly logTimers = new Map<string, NodeJS.Timeout>();
  /** Runtime deletes running in the background after an exit (awaited by a restart, not by removal). */
  private readonly pendingDeletes = new Map<string, Promise<void>>();
  /** Containers being removed: nothing may mount their root any more. */
  private readonly removing = new Set<string>();
  private exitWatcher?: ReturnType<typeof watch>;

  constructor(private readonly d: ContainerServiceDeps) {}

  private get exitDir(): string {
    return path.join(this.d.paths.execRoot, 'exits');
  }

  private bundleDir(id: string): string {
    return path.join(this.d.paths.execRoot, 'bundles', id);
  }

  private socketDir(): string {
    return path.join(this.d.paths.execRoot, 's');
  }

  private sessionId(id: string): string {
    return id.slice(0, 16);
  }

  attachSocketPath(id: string): string {
    return path.join(this.socketDir(), this.sessionId(id), 'attach');
  }

  private runtimeOf(rec: ContainerRecord): OciRuntime {
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

  // ---------- startup ----------

  /** Read back state after a (re)start of the engine: adopt running containers, record exits. */
  async restore(): Promise<void> {
    for (const dir of [this.exitDir, this.socketDir(), path.join(this.d.paths.execRoot, 'bundles')])
      await fs.mkdir(dir, { recursive: true });
    this.exitWatcher = watch(this.exitDir, (_ev, file) => {
      if (file) void this.onExitFile(file.toString());
    });
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
  }

  close(): void {
    this.exitWatcher?.close();
    for (const t of this.healthTimers.values()) clearTimeout(t);
    for (const t of this.logTimers.values()) clearInterval(t);
    for (const t of this.restartTimers.values()) clearTimeout(t);
  }

  private async readExitCode(id: string): Promise<number | undefined> {
    for (const f of [path.join(this.exitDir, id), path.join(this.d.store.dir(id), 'persist', 'exit')]) {
      try {
        const v = (await fs.readFile(f, 'utf8')).trim();
        if (v !== '') return Number(v);
      } catch {
        // Try the next place.
      }
    }
    return undefined;
  }

  private async onExitFile(file: string): Promise<void> {
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
  }

  // ---------- create ----------

  async create(body: CreateRequest, requestedName: string | undefined): Promise<{ Id: string; Warnings: string[] }> {
    if (!body.Image) throw invalid('Config cannot be empty in order to create a container');
    const image = this.d.images.tryResolve(body.Image);
    if (!image) {
      let shown = body.Image;
      try {
        shown = familiarString(parseWithDefaultTag(body.Image));
      } catch {
        // Keep what the user typed.
      }
      throw notFound(`No such image: ${shown}`);
    }
    const imgCfg = (await this.d.images.config(image)).config ?? {};
    const hc: HostConfig = {
      NetworkMode: 'default',
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      LogConfig: { Type: 'json-file', Config: {} },
      ...body.HostConfig,
    };
    if (hc.AutoRemove && hc.RestartPolicy?.Name && hc.RestartPolicy.Name !== 'no') {
      throw invalid(`can't create 'AutoRemove' container with restart policy`);
    }
    const id = this.d.store.newId();
    const name = this.d.store.allocateName(requestedName, id);
    const entrypoint =
      body.Entrypoint !== undefined && body.Entrypoint !== null ? body.Entrypoint : (imgCfg.Entrypoint ?? null);
    let cmd = body.Cmd !== undefined && body.Cmd !== null && body.Cmd.length ? body.Cmd : null;
    if (!cmd && !(body.Entrypoint !== undefined && body.Entrypoint !== null && body.Entrypoint.length))
      cmd = imgCfg.Cmd ?? null;
    const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
    if (argv.length === 0) throw invalid('No command specified');
    const env = mergeEnv(imgCfg.Env ?? [], body.Env ?? []);
    if (!env.some((e) => e.startsWith('PATH=')))
      env.unshift('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    const cfg: ContainerConfig = {
      Hostname: body.Hostname || id.slice(0, 12),
      Domainname: body.Domainname ?? '',
      User: body.User ?? imgCfg.User ?? '',
      AttachStdin: !!body.AttachStdin,
      AttachStdout: !!body.AttachStdout,
      AttachStderr: !!body.AttachStderr,
      ExposedPorts: { ...imgCfg.ExposedPorts, ...body.ExposedPorts },
      Tty: !!body.Tty,
      OpenStdin: !!body.OpenStdin,
      StdinOnce: !!body.StdinOnce,
      Env: env,
      Cmd: cmd,
      Image: body.Image,
      Volumes: { ...imgCfg.Volumes, ...body.Volumes },
      WorkingDir: body.WorkingDir || imgCfg.WorkingDir || '',
      Entrypoint: entrypoint,
      OnBuild: imgCfg.OnBuild ?? null,
      Labels: { ...imgCfg.Labels, ...body.Labels },
      StopSignal: body.StopSignal || imgCfg.StopSignal,
      StopTimeout: body.StopTimeout,
      Healthcheck: body.Healthcheck ? { ...imgCfg.Healthcheck, ...body.Healthcheck } : imgCfg.Healthcheck,
    };
    if (Object.keys(cfg.ExposedPorts!).length === 0) delete cfg.ExposedPorts;
    if (Object.keys(cfg.Volumes!).length === 0) cfg.Volumes = null as never;
    if (!cfg.StopSignal) delete cfg.StopSignal;
    if (cfg.StopTimeout === undefined) delete cfg.StopTimeout;
    if (!cfg.Healthcheck) delete cfg.Healthcheck;
    const runtime = hc.Runtime || this.d.defaultRuntime;
    if (!this.d.runtimes.has(runtime)) throw invalid(`unknown or invalid runtime name: ${runtime}`);
    hc.Runtime = runtime;
    for (const mode of [hc.NetworkMode, hc.PidMode, hc.IpcMode]) {
      if (mode?.startsWith('container:')) this.d.store.resolve(mode.slice('container:'.length));
    }
    const networks = this.d.networks.initialEndpoints(
      hc.NetworkMode,
      body.NetworkingConfig?.EndpointsConfig ?? undefined,
    );
    hc.Links = this.normalizeLinks(hc.Links ?? [], name) ?? null;
    if (hc.Links?.length && !networks.bridge)
      throw invalid('conflicting options: links are only supported on the default bridge network');
    const warnings = validateCreate(cfg, hc);
    if (
      (hc.NetworkMode === 'host' || hc.NetworkMode === 'none' || hc.NetworkMode?.startsWith('container:')) &&
      Object.values(hc.PortBindings ?? {}).some((b) => b?.length)
    ) {
      throw invalid(`conflicting options: port publishing and the container type network mode`);
    }
    const mounts = await resolveMounts(
      {
        binds: hc.Binds ?? [],
        mounts: (hc.Mounts as MountRequest[] | null) ?? [],
        volumesFrom: hc.VolumesFrom ?? [],
        imageVolumes: Object.keys(cfg.Volumes ?? {}),
        tmpfs: Object.keys(hc.Tmpfs ?? {}),
      },
      this.d.volumes,
      (ref) => this.d.store.resolve(ref).Mounts ?? [],
    );
    const chain = chainIds(image.diffIds).at(-1)!;
    const dir = this.d.store.dir(id);
    const rec: ContainerRecord = {
      Id: id,
      Created: new Date().toISOString(),
      Path: argv[0]!,
      Args: argv.slice(1),
      State: emptyState(),
      Image: image.id,
      Name: name,
      RestartCount: 0,
      Driver: 'overlay2',
      Platform: 'linux',
      MountLabel: '',
      ProcessLabel: '',
      AppArmorProfile: '',
      HostnamePath: path.join(dir, 'hostname'),
      HostsPath: path.join(dir, 'hosts'),
      ResolvConfPath: path.join(dir, 'resolv.conf'),
      LogPath: path.join(dir, `${id}-json.log`),
      Config: cfg,
      HostConfig: hc,
      chainId: chain,
      runtime,
      NetworkSettings: { Networks: networks, Ports: {} },
      Mounts: mounts,
    };
    await this.d.snapshots.prepare(id, chain);
    await this.d.store.save(rec);
    this.d.events.publish('container', 'create', id, this.eventAttrs(rec));
    return { Id: id, Warnings: warnings };
  }

  private eventAttrs(rec: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...rec.Config.Labels, image: rec.Config.Image ?? '', name: rec.Name.slice(1), ...extra };
  }

  // ---------- start ----------

  private async namespacePath(
    mode: string | undefined,
    kind: 'net' | 'pid' | 'ipc',
  ): Promise<string | 'host' | undefined> {
    if (
      !mode ||
      mode === 'default' ||
      mode === 'bridge' ||
      mode === 'none' ||
      mode === 'private' ||
      mode === 'shareable' ||
      mode === ''
    )
      return undefined;
    if (mode === 'host') return 'host';
    if (mode.startsWith('container:')) {
      const other = this.d.store.resolve(mode.slice('container:'.length));
      if (!other.State.Running) throw conflict(`cannot join network of a non running container: ${other.Id}`);
      return `/proc/${other.State.Pid}/ns/${kind}`;
    }
    // Any other network mode names a network, validated at create: the container gets a namespace of its own.
    if (kind === 'net') return undefined;
    throw invalid(`invalid ${kind.toUpperCase()} mode: ${mode}`);
  }

  async start(ref: string): Promise<void> {
    const rec = this.d.store.resolve(ref);
    if (rec.State.Running) {
      if (rec.State.Paused) throw conflict(`cannot start a paused container, try unpause instead`);
      return; // Docker answers 304 Not Modified; the API layer checks before calling.
    }
    if (this.starting.has(rec.Id)) return;
    this.starting.add(rec.Id);
    try {
      await this.doStart(rec);
    } finally {
      this.starting.delete(rec.Id);
    }
  }

  private async doStart(rec: ContainerRecord): Promise<void> {
    const rt = this.runtimeOf(rec);
    const id = rec.Id;
    const dir = this.d.store.dir(id);
    const bundle = this.bundleDir(id);
    await this.pendingDeletes.get(id);
    await fs.rm(bundle, { recursive: true, force: true });
    await fs.mkdir(bundle, { recursive: true });
    await rt.delete(id, true);
    await fs.rm(path.join(this.exitDir, id), { force: true });
    await fs.rm(path.join(dir, 'persist'), { recursive: true, force: true });
    await fs.mkdir(path.join(dir, 'persist'), { recursive: true });
    const rootfs = await this.d.snapshots.mount(id, rec.chainId);
    try {
      const cfg = rec.Config;
      const hc = rec.HostConfig;
      const netns = await this.namespacePath(hc.NetworkMode, 'net');
      const pidns = await this.namespacePath(hc.PidMode, 'pid');
      const ipcns = await this.namespacePath(hc.IpcMode, 'ipc');
      const utsHost = hc.UTSMode === 'host' || netns === 'host';
      const hostname = utsHost ? (await fs.readFile('/etc/hostname', 'utf8')).trim() : cfg.Hostname!;
      // Regenerated at every start, so plain writes (no fsync) are enough.
      const wired = this.d.networks.needsWiring(rec);
      await Promise.all([
        fs.writeFile(rec.HostnamePath, `${hostname}\n`),
        fs.writeFile(rec.HostsPath, hostsFile(hostname, hc.ExtraHosts ?? [], [])),
        this.writeResolvConf(rec),
      ]);
      const etcFiles = [
        { source: rec.ResolvConfPath, destination: '/etc/resolv.conf' },
        { source: rec.HostnamePath, destination: '/etc/hostname' },
        { source: rec.HostsPath, destination: '/etc/hosts' },
      ];
      if (netns === 'host')
        etcFiles.splice(
          0,
          3,
          { source: '/etc/resolv.conf', destination: '/etc/resolv.conf' },
          { source: rec.HostnamePath, destination: '/etc/hostname' },
          { source: '/etc/hosts', destination: '/etc/hosts' },
        );
      if (cfg.WorkingDir)
        await ConfinedDir.with(rootfs, 'in-root', (root) => root.mkdirAll(cfg.WorkingDir!)).catch(() => undefined);
      const user = await resolveUser(rootfs, cfg.User);
      const env = [...(cfg.Env ?? [])];
      if (!env.some((e) => e.startsWith('HOSTNAME='))) env.unshift(`HOSTNAME=${hostname}`);
      if (cfg.Tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
      if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
      const useInit = hc.Init === true;
      if (useInit && !this.d.paths.initBinary) throw invalid('--init needs tini-static, which is not installed');
      const extraMounts = await this.volumeMounts(rec, rootfs);
      const spec = buildSpec({
        extraMounts,
        rec: { ...rec, Config: { ...cfg, Env: env } },
        rootfs,
        user,
        hostname,
        etcFiles,
        netns,
        pidns,
        ipcns,
        utsHost,
        cgroupsPath: `/gantry/${id}`,
        initPath: useInit ? this.d.paths.initBinary : undefined,
      });
      await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
      const pid = await launchConmon({
        conmon: this.d.paths.conmon,
        runtime: rt,
        containerId: id,
        sessionId: this.sessionId(id),
        bundle,
        pidFile: path.join(bundle, 'pidfile'),
        conmonPidFile: path.join(bundle, 'conmon.pid'),
        exitDir: this.exitDir,
        persistDir: path.join(dir, 'persist'),
        logPath: rec.LogPath,
        socketDir: this.socketDir(),
        name: rec.Name.slice(1),
        tty: !!cfg.Tty,
        stdin: !!cfg.OpenStdin,
        leaveStdinOpen: !!cfg.OpenStdin && !cfg.StdinOnce,
      }).catch((err: unknown) => {
        throw translateStartError(err);
      });
      if (wired) {
        try {
          await this.d.networks.setUp(rec, pid);
        } catch (err) {
          await rt.delete(id, true).catch(() => undefined);
          throw err;
        }
        // The address is known only now; the hosts file is bind-mounted, so it is rewritten in place.
        await fs.writeFile(
          rec.HostsPath,
          hostsFile(hostname, hc.ExtraHosts ?? [], [
            ...this.ownHostEntries(rec, hostname),
            ...this.linkHostEntries(rec),
          ]),
        );
      }
      // Attachments made before start connect now, before the process runs, so no output is missed.
      const pending = this.pendingAttach.get(id) ?? [];
      this.pendingAttach.delete(id);
      for (const connect of pending) connect(this.attachSocketPath(id));
      rec.State = {
        ...rec.State,
        Status: 'running',
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: pid,
        ExitCode: 0,
        Error: '',
        StartedAt: new Date().toISOString(),
        FinishedAt: ZERO_TIME,
      };
      rec.manuallyStopped = false;
      await this.d.store.save(rec);
      try {
        await rt.start(id, pid);
      } catch (err) {
        await rt.delete(id, true);
        rec.State = { ...rec.State, Status: 'created', Running: false, Pid: 0 };
        await this.d.store.save(rec);
        throw translateStartError(err);
      }
      this.d.events.publish('container', 'start', id, this.eventAttrs(rec));
      this.startHealth(rec);
      this.startLogRotation(rec);
    } catch (err) {
      if (!rec.State.Running) {
        await this.d.snapshots.unmount(id).catch(() => undefined);
        rec.State = { ...rec.State, Error: (err as Error).message, ExitCode: exitCodeFor(err) };
        await this.d.store.save(rec).catch(() => undefined);
        for (const fail of this.pendingAttach.get(id) ?? []) fail('');
        this.pendingAttach.delete(id);
        // As Docker does, a container that was to be removed when it stops is removed when it cannot start.
        if (rec.HostConfig.AutoRemove) await this.remove(id, { force: true }).catch(() => undefined);
      }
      throw err;
    }
  }

  /** Docker stores links as `/<target name>:/<container name>/<alias>`; targets must exist. */
  private normalizeLinks(links: string[], name: string): string[] | undefined {
    if (!links.length) return undefined;
    return links.map((l) => {
      const [target = '', alias = target] = l.split(':');
      const t = this.d.store.get(target) ?? this.d.store.list().find((c) => c.Name === `/${target.replace(/^\//, '')}`);
      if (!t) throw invalid(`could not get container for ${target}: No such container: ${target}`);
      return `${t.Name}:${name}/${alias.split('/').pop()}`;
    });
  }

  /** The container's own address line(s) in /etc/hosts, as Docker writes them. */
  private ownHostEntries(rec: ContainerRecord, hostname: string): string[] {
    return Object.values(rec.NetworkSettings?.Networks ?? {})
      .filter((ep) => ep.IPAddress)
      .map((ep) => `${ep.IPAddress}\t${hostname}`);
  }

  /** Legacy links: `<ip> <alias> <name> <short id>` for each running link target on the default bridge. */
  private linkHostEntries(rec: ContainerRecord): string[] {
    const out: string[] = [];
    for (const link of rec.HostConfig.Links ?? []) {
      const [targetName = '', aliasPath = ''] = link.split(':');
      const target = this.d.store.list().find((c) => c.Name === targetName);
      const ip = target?.NetworkSettings?.Networks.bridge?.IPAddress;
      if (!target || !ip) continue;
      const alias = aliasPath.split('/').pop()!;
      out.push(
        [ip, alias, ...(alias === targetName.slice(1) ? [] : [targetName.slice(1)]), target.Id.slice(0, 12)].join('\t'),
      );
    }
    return out;
  }

  // ---------- exit ----------

  private async handleExit(id: string, code: number, error: string): Promise<void> {
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
  }

  private maybeRestart(rec: ContainerRecord): void {
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
  }

  /** Resolve when the container has exited (after any in-flight exit handling). */
  private waitExit(id: string): Promise<void> {
    return new Promise((resolve) => {
      const list = this.exitWaiters.get(id) ?? [];
      list.push(resolve);
      this.exitWaiters.set(id, list);
    });
  }

  async wait(
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
  }

  // ---------- stop / kill ----------

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
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
  }

  async stop(ref: string, timeoutSec?: number, signal?: string): Promise<boolean> {
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
  }

  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.d.store.resolve(ref);
    await this.stop(rec.Id, timeoutSec, signal);
    await this.start(rec.Id);
    this.d.events.publish('container', 'restart', rec.Id, this.eventAttrs(rec));
  }

  async pause(ref: string): Promise<void> {
    const rec = this.d.store.resolve(ref);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw conflict(`Container ${rec.Id} is already paused`);
    await this.runtimeOf(rec).pause(rec.Id);
    rec.State = { ...rec.State, Paused: true, Status: 'paused' };
    await this.d.store.save(rec);
    this.d.events.publish('container', 'pause', rec.Id, this.eventAttrs(rec));
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.d.store.resolve(ref);
    if (!rec.State.Paused) throw conflict(`Container ${rec.Id} is not paused`);
    await this.runtimeOf(rec).resume(rec.Id);
    rec.State = { ...rec.State, Paused: false, Status: 'running' };
    await this.d.store.save(rec);
    this.d.events.publish('container', 'unpause', rec.Id, this.eventAttrs(rec));
  }

  // ---------- remove ----------

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const rec = this.d.store.resolve(ref);
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
  }

  private async doRemove(rec: ContainerRecord): Promise<void> {
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
    // When `rm` returns nothing of the container may remain: wait for a background runtime delete too.
    await this.pendingDeletes.get(rec.Id);
    await this.runtimeOf(rec)
      .delete(rec.Id, true)
      .catch(() => undefined);
    await this.d.networks.tearDown(rec);
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
  }

  /** Anonymous volumes go with their container (`rm -v`, `--rm`); named ones stay. */
  private async removeAnonymousVolumes(rec: ContainerRecord): Promise<void> {
    for (const m of rec.Mounts ?? []) {
      if (m.Type !== 'volume' || !m.Name || !this.d.volumes.has(m.Name)) continue;
      const v = this.d.volumes.get(m.Name);
      if (v.Labels && ANONYMOUS_LABEL in v.Labels)
        await this.d.volumes
          .remove(m.Name)
          .catch((err: unknown) => this.d.logger.warn({ volume: m.Name, err: String(err) }, 'volume not removed'));
    }
  }

  /** Names of containers using a volume (any state), for `volume rm` conflicts. */
  usingVolume(name: string): string[] {
    return this.d.store
      .list()
      .filter((c) => c.Mounts?.some((m) => m.Name === name))
      .map((c) => c.Id);
  }

  /**
   * OCI mounts for the container's volumes, binds and tmpfs mounts, shallowest first. An empty volume
   * first receives what the image has at its destination, as Docker copies it.
   */
  private async volumeMounts(rec: ContainerRecord, rootfs: string): Promise<OciMount[]> {
    const out: OciMount[] = [];
    const sorted = [...(rec.Mounts ?? [])].sort(
      (a, b) => a.Destination.split('/').length - b.Destination.split('/').length,
    );
    for (const m of sorted) {
      if (m.Type === 'tmpfs') {
        out.push({
          destination: m.Destination,
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['nosuid', 'nodev', 'noexec', m.RW ? 'rw' : 'ro', ...(m.tmpfsOptions ?? [])],
        });
        continue;
      }
      if (m.Type === 'volume' && m.copyUp) await copyUp(rootfs, m.Destination, m.Source);
      if (!existsSync(m.Source))
        throw invalid(`error while creating mount source path '${m.Source}': no such file or directory`);
      out.push({
        destination: m.Destination,
        type: 'bind',
        source: m.Source,
        options: ['rbind', m.RW ? 'rw' : 'ro', m.Propagation || 'rprivate'],
      });
    }
    return out;
  }

  /** `network connect`: wired at once when the container runs, else at its next start. */
  async connectNetwork(ref: string, network: string, cfg: { Aliases?: string[] | null } = {}): Promise<void> {
    const rec = this.d.store.resolve(ref);
    await this.d.networks.connect(rec, network, cfg);
    await this.d.store.save(rec);
    // Joining a user-defined network brings its DNS server, as Docker's embedded one comes with it.
    if (rec.State.Running && rec.HostConfig.NetworkMode !== 'host') await this.writeResolvConf(rec);
  }

  /**
   * /etc/resolv.conf: the embedded DNS server first when the container is on a user-defined network
   * (it forwards other names to the host's resolvers), else the host's resolvers or `--dns`. The file
   * is bind-mounted, so it is written in place.
   */
  private async writeResolvConf(rec: ContainerRecord): Promise<void> {
    const hc = rec.HostConfig;
    const embedded = this.d.networks.needsWiring(rec) ? this.d.networks.dnsServerFor(rec) : undefined;
    const text = await resolvConf(
      embedded ? [embedded, ...(hc.Dns ?? [])] : (hc.Dns ?? []),
      hc.DnsSearch ?? [],
      hc.DnsOptions?.length ? hc.DnsOptions : embedded ? ['ndots:0'] : [],
    );
    await fs.writeFile(rec.ResolvConfPath, text);
  }

  async disconnectNetwork(ref: string, network: string): Promise<void> {
    const rec = this.d.store.resolve(ref);
    await this.d.networks.disconnect(rec, network);
    await this.d.store.save(rec);
  }

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.d.store.resolve(ref);
    const name = this.d.store.allocateName(newName, rec.Id);
    const old = rec.Name;
    rec.Name = name;
    await this.d.store.save(rec);
    this.d.events.publish('container', 'rename', rec.Id, this.eventAttrs(rec, { oldName: old }));
  }

  async prune(until?: number): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
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
  }

  async sizeRw(id: string): Promise<number> {
    let total = 0;
    const stack = [this.d.snapshots.activeDirs(id).upper];
    while (stack.length) {
      const dir = stack.pop()!;
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) stack.push(p);
        else total += (await fs.lstat(p).catch(() => ({ size: 0 }))).size;
      }
    }
    return total;
  }

  async top(ref: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = this.d.store.resolve(ref);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    const pids = await this.runtimeOf(rec).pids(rec.Id);
    const rows: string[][] = [];
    for (const pid of pids) {
      const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''))
        .split('\0')
        .filter(Boolean)
        .join(' ');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '0';
      const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
      const secs = Math.floor(ticks / 100);
      const time = `${String(Math.floor(secs / 3600)).padStart(2, '0')}:${String(Math.floor(secs / 60) % 60).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
      rows.push([uid === '0' ? 'root' : uid, String(pid), fields[1] ?? '', '0', '', '?', time, cmd]);
    }
    return { Titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], Processes: rows };
  }

  // ---------- attach ----------

  /**
   * Attach to a container's live output (and stdin when it was created with OpenStdin). Before start
   * the attachment waits and connects as soon as conmon's socket exists.
   */
  attach(ref: string, opts: { stdin: boolean; stdout: boolean; stderr: boolean }): Attachment {
    const rec = this.d.store.resolve(ref);
    const output = new PassThrough({ objectMode: true });
    const stdin = opts.stdin && rec.Config.OpenStdin ? new PassThrough() : undefined;
    let conn: AttachConnection | undefined;
    let closed = false;
    const connect = (socketPath: string): void => {
      if (closed) return;
      if (!socketPath) {
        output.end();
        return;
      }
      try {
        conn = connectAttach(socketPath);
      } catch (err) {
        this.d.logger.warn({ id: shortId(rec.Id), err: String(err) }, 'attach failed');
        output.end();
        return;
      }
      conn.onOutput((stream, data) => {
        if ((stream === 'stdout' && opts.stdout) || (stream === 'stderr' && opts.stderr))
          output.write({ stream, data } satisfies OutputChunk);
      });
      conn.onClose(() => output.end());
      if (stdin) {
        stdin.on('data', (c: Buffer) => conn?.write(c));
        stdin.on('end', () => {
          // Half-close: the container sees EOF on stdin (conmon closes it unless told to keep it).
          // Docker closes it only without a TTY: with one, end of input is a key typed, not a closed stream.
          if (rec.Config.StdinOnce && !rec.Config.Tty) conn?.endInput();
        });
      }
    };
    if (rec.State.Running && existsSync(this.attachSocketPath(rec.Id))) connect(this.attachSocketPath(rec.Id));
    else if (!rec.State.Running || this.starting.has(rec.Id)) {
      const list = this.pendingAttach.get(rec.Id) ?? [];
      list.push(connect);
      this.pendingAttach.set(rec.Id, list);
    } else output.end();
    return {
      output,
      stdin,
      close: () => {
        closed = true;
        conn?.destroy();
        if (!output.writableEnded) output.end();
      },
    };
  }

  /** Resize a container's TTY through conmon's control FIFO. */
  async resize(ref: string, height: number, width: number): Promise<void> {
    const rec = this.d.store.resolve(ref);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    await writeCtl(path.join(this.socketDir(), this.sessionId(rec.Id), 'ctl'), height, width);
  }

  // ---------- exec ----------

  execCreate(ref: string, config: ExecSession['config']): string {
    const rec = this.d.store.resolve(ref);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw conflict(`Container ${rec.Id} is paused, unpause the container before exec`);
    if (!config.Cmd?.length) throw invalid('No exec command specified');
    const id = randomBytes(32).toString('hex');
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    this.execs.set(id, { id, containerId: rec.Id, config, running: false, exitCode: null, pid: 0, done, resolveDone });
    this.d.events.publish(
      'container',
      `exec_create: ${config.Cmd.join(' ')}`,
      rec.Id,
      this.eventAttrs(rec, { execID: id }),
    );
    return id;
  }

  execInspect(id: string): Record<string, unknown> {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    return {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: {
        tty: !!e.config.Tty,
        entrypoint: e.config.Cmd[0],
        arguments: e.config.Cmd.slice(1),
        privileged: !!e.config.Privileged,
        user: e.config.User ?? '',
      },
      OpenStdin: !!e.config.AttachStdin,
      OpenStderr: !!e.config.AttachStderr,
      OpenStdout: !!e.config.AttachStdout,
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: e.config.DetachKeys ?? '',
      Pid: e.pid,
    };
  }

  /**
   * Run an exec session. Without a TTY the runtime's exec runs as a child with pipes; with a TTY,
   * conmon allocates the terminal and the session is reached through its attach socket.
   */
  async execStart(id: string, detach: boolean): Promise<Attachment & { done: Promise<void> }> {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    if (e.running || e.exitCode !== null) throw conflict(`Error: Exec command ${id} is already running`);
    const rec = this.d.store.resolve(e.containerId);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    const rt = this.runtimeOf(rec);
    const rootfs = this.d.snapshots.activeDirs(rec.Id).merged;
    const user = await resolveUser(rootfs, e.config.User ?? rec.Config.User);
    const env = mergeEnv(rec.Config.Env ?? [], e.config.Env ?? []);
    if (e.config.Tty && !env.some((x) => x.startsWith('TERM='))) env.push('TERM=xterm');
    if (!env.some((x) => x.startsWith('HOME='))) env.push(`HOME=${user.home}`);
    const bundleSpec = JSON.parse(await fs.readFile(path.join(this.bundleDir(rec.Id), 'config.json'), 'utf8')) as {
      process: Record<string, unknown>;
    };
    const proc: Record<string, unknown> = {
      ...bundleSpec.process,
      terminal: !!e.config.Tty,
      args: e.config.Cmd,
      env,
      cwd: e.config.WorkingDir || rec.Config.WorkingDir || '/',
      user: {
        uid: user.uid,
        gid: user.gid,
        additionalGids: user.additionalGids.length ? user.additionalGids : undefined,
      },
    };
    if (e.config.Privileged) {
      const caps = computeCaps(true);
      proc.capabilities = { bounding: caps, effective: caps, permitted: caps };
    }
    const specPath = path.join(this.bundleDir(rec.Id), `exec-${id.slice(0, 16)}.json`);
    await fs.writeFile(specPath, JSON.stringify(proc));
    e.running = true;
    this.d.events.publish(
      'container',
      `exec_start: ${e.config.Cmd.join(' ')}`,
      rec.Id,
      this.eventAttrs(rec, { execID: id }),
    );
    const finish = (code: number): void => {
      e.exitCode = code;
      e.running = false;
      e.resolveDone();
      void fs.rm(specPath, { force: true });
      this.d.events.publish(
        'container',
        'exec_die',
        rec.Id,
        this.eventAttrs(rec, { execID: id, exitCode: String(code) }),
      );
    };
    const output = new PassThrough({ objectMode: true });
    if (!e.config.Tty) {
      const child = rt.execPiped(rec.Id, specPath, false);
      e.pid = child.pid() ?? 0;
      let open = 2;
      const endOne = (): void => {
        if (--open === 0) output.end();
      };
      child.stdout.on('data', (c: Buffer) => {
        if (e.config.AttachStdout !== false) output.write({ stream: 'stdout', data: c } satisfies OutputChunk);
      });
      child.stderr.on('data', (c: Buffer) => {
        if (e.config.AttachStderr !== false) output.write({ stream: 'stderr', data: c } satisfies OutputChunk);
      });
      child.stdout.on('end', endOne);
      child.stderr.on('end', endOne);
      let stdin: PassThrough | undefined;
      if (e.config.AttachStdin && !detach) {
        stdin = new PassThrough();
        stdin.pipe(child.stdin);
        child.stdin.on('error', () => undefined);
      } else child.stdin.end();
      void child.exited.then((code) => {
        // runc reports exec failures (command not found) with its own status; map them as Docker does.
        finish(code === 255 ? 126 : code);
      });
      return { output, stdin, done: e.done, close: () => output.end() };
    }
    // TTY: conmon owns the terminal; connect to its attach socket before the process starts.
    const session = id.slice(0, 16);
    // conmon names exit files after the container, so each exec session gets its own exit directory.
    const execExitDir = path.join(this.d.paths.execRoot, 'exec-exits', session);
    await fs.mkdir(execExitDir, { recursive: true });
    const exitWatch = watch(execExitDir, () => {
      void fs.readFile(path.join(execExitDir, rec.Id), 'utf8').then(
        (v) => {
          if (v.trim() === '' || e.exitCode !== null) return;
          exitWatch.close();
          void fs.rm(execExitDir, { recursive: true, force: true });
          finish(Number(v.trim()));
        },
        () => undefined,
      );
    });
    let conn: AttachConnection | undefined;
    const stdin = e.config.AttachStdin && !detach ? new PassThrough() : undefined;
    const pidPromise = launchConmon({
      conmon: this.d.paths.conmon,
      runtime: rt,
      containerId: rec.Id,
      sessionId: session,
      bundle: this.bundleDir(rec.Id),
      pidFile: path.join(this.bundleDir(rec.Id), `exec-${session}.pid`),
      conmonPidFile: path.join(this.bundleDir(rec.Id), `exec-${session}.conmon.pid`),
      exitDir: execExitDir,
      socketDir: this.socketDir(),
      name: rec.Name.slice(1),
      tty: true,
      stdin: !!e.config.AttachStdin,
      execSpec: specPath,
      onAttachReady: async () => {
        conn = connectAttach(path.join(this.socketDir(), session, 'attach'));
        conn.onOutput((_stream, data) => output.write({ stream: 'stdout', data } satisfies OutputChunk));
        conn.onClose(() => output.end());
        stdin?.on('data', (c: Buffer) => conn?.write(c));
        stdin?.on('end', () => conn?.endInput());
      },
    });
    e.ctl = path.join(this.socketDir(), session, 'ctl');
    try {
      e.pid = await pidPromise;
    } catch (err) {
      exitWatch.close();
      finish(exitCodeFor(err));
      output.end();
      throw translateStartError(err);
    }
    return { output, stdin, done: e.done, close: () => conn?.destroy() };
  }

  async execResize(id: string, height: number, width: number): Promise<void> {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    if (e.ctl) await writeCtl(e.ctl, height, width);
  }

  // ---------- update ----------

  async update(ref: string, u: Partial<HostConfig>): Promise<string[]> {
    const rec = this.d.store.resolve(ref);
    const hc = rec.HostConfig;
    const fields: Array<keyof HostConfig> = [
      'Memory',
      'MemorySwap',
      'MemoryReservation',
      'CpuShares',
      'NanoCpus',
      'CpuPeriod',
      'CpuQuota',
      'CpusetCpus',
      'CpusetMems',
      'PidsLimit',
      'RestartPolicy',
    ];
    if (u.RestartPolicy?.Name && rec.HostConfig.AutoRemove && u.RestartPolicy.Name !== 'no')
      throw invalid(`Restart policy cannot be updated because AutoRemove is enabled for the container`);
    // Checked on a copy, so a refused update changes nothing.
    const next: HostConfig = { ...hc };
    for (const f of fields)
      if (u[f] !== undefined && u[f] !== null && !(typeof u[f] === 'number' && u[f] === 0 && f !== 'PidsLimit'))
        (next as Record<string, unknown>)[f] = u[f];
    const warnings = validateResources(next, true);
    Object.assign(hc, next);
    await this.d.store.save(rec);
    if (rec.State.Running) {
      const resources = cgroupResources(hc);
      await this.runtimeOf(rec).update(rec.Id, resources);
    }
    this.d.events.publish('container', 'update', rec.Id, this.eventAttrs(rec));
    return warnings;
  }

  // ---------- health checks ----------

  /**
   * Run the container's health check (image HEALTHCHECK or --health-* flags) on its interval: each
   * probe is an exec; `retries` failures in a row make the container unhealthy. Status, the last five
   * results and `health_status` events as Docker reports them.
   */
  private startHealth(rec: ContainerRecord): void {
    const hc = rec.Config.Healthcheck;
    const test = hc?.Test ?? [];
    if (!hc || test.length === 0 || test[0] === 'NONE') return;
    const argv =
      test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test.slice(1).join(' ')] : test[0] === 'CMD' ? test.slice(1) : test;
    const ms = (ns: number | undefined, dflt: number): number => (ns && ns > 0 ? ns / 1e6 : dflt);
    const interval = ms(hc.Interval, 30000);
    const timeout = ms(hc.Timeout, 30000);
    const startPeriod = ms(hc.StartPeriod, 0);
    const retries = hc.Retries && hc.Retries > 0 ? hc.Retries : 3;
    const startedAt = Date.now();
    rec.State.Health = { Status: 'starting', FailingStreak: 0, Log: [] };
    void this.d.store.save(rec);
    const probe = async (): Promise<void> => {
      const cur = this.d.store.get(rec.Id);
      if (!cur || !cur.State.Running) return;
      const start = new Date().toISOString();
      let exitCode = -1;
      let output = '';
      try {
        const id = this.execCreate(cur.Id, { Cmd: argv, AttachStdout: true, AttachStderr: true });
        const att = await this.execStart(id, false);
        att.output.on('data', (c: OutputChunk) => {
          if (output.length < 4096) output += c.data.toString();
        });
        const timedOut = await Promise.race([att.done.then(() => false), sleep(timeout).then(() => true)]);
        exitCode = timedOut ? -1 : (this.execs.get(id)?.exitCode ?? -1);
        if (timedOut) output = `Health check exceeded timeout (${timeout / 1000}s)`;
        this.execs.delete(id);
      } catch (err) {
        output = (err as Error).message;
      }
      const latest = this.d.store.get(rec.Id);
      if (!latest || !latest.State.Running) return;
      const h = latest.State.Health ?? { Status: 'starting', FailingStreak: 0, Log: [] };
      h.Log = [...h.Log, { Start: start, End: new Date().toISOString(), ExitCode: exitCode, Output: output }].slice(-5);
      const before = h.Status;
      if (exitCode === 0) {
        h.Status = 'healthy';
        h.FailingStreak = 0;
      } else if (Date.now() - startedAt > startPeriod) {
        h.FailingStreak++;
        if (h.FailingStreak >= retries) h.Status = 'unhealthy';
      }
      latest.State.Health = h;
      await this.d.store.save(latest);
      if (h.Status !== before || exitCode !== 0) {
        this.d.events.publish('container', `health_status: ${h.Status}`, latest.Id, this.eventAttrs(latest));
      }
      this.healthTimers.set(
        rec.Id,
        setTimeout(() => void probe(), interval),
      );
    };
    this.healthTimers.set(
      rec.Id,
      setTimeout(() => void probe(), Math.min(interval, hc.StartInterval ? hc.StartInterval / 1e6 : interval)),
    );
  }

  private stopHealth(id: string): void {
    const t = this.healthTimers.get(id);
    if (t) clearTimeout(t);
    this.healthTimers.delete(id);
  }

  // ---------- log rotation ----------

  /**
   * json-file's `max-size` and `max-file`: when the log grows past max-size it is renamed to `.1`
   * (older ones shift up, the oldest beyond max-file is dropped) and conmon is told through its control
   * FIFO to reopen the log path. `docker logs` reads the rotated files first.
   */
  private startLogRotation(rec: ContainerRecord): void {
    const opts = rec.HostConfig.LogConfig?.Config ?? {};
    const maxSize = parseLogSize(opts['max-size']);
    if (!maxSize) return;
    const maxFile = Math.max(1, Number(opts['max-file'] ?? 1));
    const ctl = path.join(this.socketDir(), this.sessionId(rec.Id), 'ctl');
    let busy = false;
    const check = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        const st = await fs.stat(rec.LogPath).catch(() => undefined);
        if (!st || st.size < maxSize) return;
        if (maxFile === 1) {
          await fs.truncate(rec.LogPath, 0);
          return;
        }
        await fs.rm(`${rec.LogPath}.${maxFile - 1}`, { force: true });
        for (let i = maxFile - 2; i >= 1; i--)
          await fs.rename(`${rec.LogPath}.${i}`, `${rec.LogPath}.${i + 1}`).catch(() => undefined);
        await fs.rename(rec.LogPath, `${rec.LogPath}.1`);
        const fh = await fs.open(ctl, 'a');
        try {
          await fh.write('2 0 0\n');
        } finally {
          await fh.close();
        }
      } finally {
        busy = false;
      }
    };
    this.logTimers.set(
      rec.Id,
      setInterval(() => void check().catch(() => undefined), 200),
    );
  }

  private stopLogRotation(id: string): void {
    const t = this.logTimers.get(id);
    if (t) clearInterval(t);
    this.logTimers.delete(id);
  }

  // ---------- filesystem: diff, export, commit ----------

  async changes(ref: string): Promise<Change[]> {
    const rec = this.d.store.resolve(ref);
    return changes(this.d.snapshots.activeDirs(rec.Id).upper, await this.d.snapshots.lowerDirs(rec.chainId));
  }

  /** The container's whole filesystem as a tar stream (mounted for the duration if stopped). */
  async export(ref: string): Promise<Readable> {
    const rec = this.d.store.resolve(ref);
    const merged = await this.mountRoot(rec);
    const tar = packDirectory(merged);
    if (!rec.State.Running) {
      const unmount = (): void => {
        const cur = this.d.store.get(rec.Id);
        if (cur && !cur.State.Running) void this.d.snapshots.unmount(rec.Id).catch(() => undefined);
      };
      tar.once('end', unmount);
      tar.once('error', unmount);
      tar.once('close', unmount);
    }
    this.d.events.publish('container', 'export', rec.Id, this.eventAttrs(rec));
    return tar;
  }

  /**
   * `docker commit`: the writable layer becomes a new image layer on top of the container's image,
   * with the container's config (and `--change` instructions) as the image config. The same layer path
   * is used by `build`.
   */
  /**
   * The container's writable layer as an OCI layer blob (changes with `.wh.` whiteouts), stored in the
   * content store: the one layer-producing path of `commit` and of `build`'s RUN steps.
   */
  async diffLayer(ref: string): Promise<{ desc: Descriptor; diffId: string }> {
    const rec = this.d.store.resolve(ref);
    return storeLayer(this.d.images.contentStore, packUpper(this.d.snapshots.activeDirs(rec.Id).upper));
  }

  async commit(
    ref: string,
    opts: {
      repo?: string;
      tag?: string;
      comment?: string;
      author?: string;
      changes?: string[];
      pause?: boolean;
      config?: ContainerConfig;
    },
  ): Promise<string> {
    const rec = this.d.store.resolve(ref);
    const rt = this.runtimeOf(rec);
    const pause = opts.pause !== false && rec.State.Running && !rec.State.Paused;
    if (pause) await rt.pause(rec.Id);
    let layer;
    try {
      layer = await this.diffLayer(rec.Id);
    } finally {
      if (pause) await rt.resume(rec.Id).catch(() => undefined);
    }
    const image = this.d.images.resolve(rec.Image);
    const parent = await this.d.images.config(image);
    const {
      Hostname: _h,
      Domainname: _d,
      AttachStdin: _a,
      AttachStdout: _b,
      AttachStderr: _c,
      Tty: _t,
      OpenStdin: _o,
      StdinOnce: _s,
      Image: _i,
      StopTimeout: _st,
      ...base
    } = { ...rec.Config, ...opts.config };
    const cfg = applyChanges(base, opts.changes ?? []);
    const created = new Date().toISOString();
    const config: ImageConfig = {
      architecture: parent.architecture ?? 'amd64',
      os: parent.os ?? 'linux',
      created,
      ...(opts.author ? { author: opts.author } : {}),
      ...(opts.comment ? { comment: opts.comment } : {}),
      config: cfg,
      container: rec.Id,
      rootfs: { type: 'layers', diff_ids: [...image.diffIds, layer.diffId] },
      history: [
        ...(parent.history ?? []),
        {
          created,
          created_by: [rec.Path, ...rec.Args].join(' '),
          ...(opts.comment ? { comment: opts.comment } : {}),
          ...(opts.author ? { author: opts.author } : {}),
        },
      ],
    };
    const created_ = await this.d.images.createImage(config, [...image.layers, layer.desc]);
    if (opts.repo) await this.d.images.tag(created_.id, opts.repo, opts.tag);
    this.d.events.publish(
      'container',
      'commit',
      rec.Id,
      this.eventAttrs(rec, { comment: opts.comment ?? '', imageID: created_.id }),
    );
    return created_.id;
  }

  // ---------- archive (docker cp) ----------

  /** Run `fn` with the container's root mounted (mounting it for the duration when stopped). */
  private async mountRoot(rec: ContainerRecord): Promise<string> {
    if (this.removing.has(rec.Id)) throw notFound(`No such container: ${rec.Id}`);
    return this.d.snapshots.mount(rec.Id, rec.chainId);
  }

  private async withRoot<T>(rec: ContainerRecord, fn: (root: string) => Promise<T>): Promise<T> {
    const running = rec.State.Running;
    const root = await this.mountRoot(rec);
    try {
      return await fn(root);
    } finally {
      const cur = this.d.store.get(rec.Id);
      if (!running && cur && !cur.State.Running && !this.starting.has(rec.Id))
        await this.d.snapshots.unmount(rec.Id).catch(() => undefined);
    }
  }

  async archiveStat(ref: string, p: string): Promise<PathStat> {
    const rec = this.d.store.resolve(ref);
    return this.withRoot(rec, async (root) => pathStat(p, await statInRoot(root, p)));
  }

  /** A tar of one path of the container, and its stat. The root stays mounted until the tar is read. */
  async archiveGet(ref: string, p: string): Promise<{ stat: PathStat; tar: Readable }> {
    const rec = this.d.store.resolve(ref);
    const running = rec.State.Running;
    const rootfs = await this.mountRoot(rec);
    let root: ConfinedDir | undefined;
    const release = (): void => {
      root?.close();
      root = undefined;
      const cur = this.d.store.get(rec.Id);
      if (!running && cur && !cur.State.Running && !this.starting.has(rec.Id))
        void this.d.snapshots.unmount(rec.Id).catch(() => undefined);
    };
    try {
      const stat = pathStat(p, await statInRoot(rootfs, p));
      const name = path.posix.basename(p.replace(/\/+$/, '')) || '/';
      root = ConfinedDir.open(rootfs, 'in-root');
      const tar = packPath(root, p, name === '/' ? '.' : name);
      tar.once('close', release);
      tar.once('end', release);
      return { stat, tar };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Extract a tar into a directory of the container (`docker cp SRC CONTAINER:DIR`). */
  async archivePut(
    ref: string,
    p: string,
    tar: Readable,
    opts: { copyUIDGID: boolean; noOverwriteDirNonDir: boolean },
  ): Promise<void> {
    const rec = this.d.store.resolve(ref);
    if (rec.HostConfig.ReadonlyRootfs) throw new GantryError('forbidden', 'container rootfs is marked read-only');
    await this.withRoot(rec, async (rootfs) =>
      ConfinedDir.with(rootfs, 'in-root', async (root) => {
        // The destination and every entry are resolved as the container sees its files; nothing leads out.
        const st = root.stat(p);
        if (!st) throw notFound(`Could not find the file ${p} in container ${rec.Name.slice(1)}`);
        if (!st.isDirectory()) throw invalid(`extraction point is not a directory`);
        await extractTar(tar, root, {
          prefix: p,
          chown: opts.copyUIDGID,
          noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
          what: `extracting into ${p}`,
        });
      }),
    );
    this.d.events.publish('container', 'extract-to-dir', rec.Id, this.eventAttrs(rec, { path: p }));
  }

  // ---------- stats ----------

  /** One sample of the container's cgroup counters, in Docker's stats shape. */
  async statsSample(ref: string): Promise<Record<string, unknown>> {
    const rec = this.d.store.resolve(ref);
    const id = rec.Id;
    const read = async (f: string): Promise<string> => fs.readFile(f, 'utf8').catch(() => '');
    const num = async (f: string): Promise<number> => Number((await read(f)).trim() || 0);
    const v1 = existsSync(`/sys/fs/cgroup/memory/gantry/${id}`);
    let memUsage = 0;
    let memLimit = 0;
    let memMax = 0;
    const memStats: Record<string, number> = {};
    let cpuTotal = 0;
    let percpu: number[] = [];
    let pids = 0;
    if (v1) {
      const m = `/sys/fs/cgroup/memory/gantry/${id}`;
      memUsage = await num(`${m}/memory.usage_in_bytes`);
      memLimit = await num(`${m}/memory.limit_in_bytes`);
      memMax = await num(`${m}/memory.max_usage_in_bytes`);
      for (const line of (await read(`${m}/memory.stat`)).split('\n')) {
        const [k, v] = line.split(' ');
        if (k && v) memStats[k] = Number(v);
      }
      cpuTotal = await num(`/sys/fs/cgroup/cpuacct/gantry/${id}/cpuacct.usage`);
      percpu = (await read(`/sys/fs/cgroup/cpuacct/gantry/${id}/cpuacct.usage_percpu`))
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
      pids = await num(`/sys/fs/cgroup/pids/gantry/${id}/pids.current`);
    } else {
      const g = `/sys/fs/cgroup/gantry/${id}`;
      memUsage = await num(`${g}/memory.current`);
      const max = (await read(`${g}/memory.max`)).trim();
      memLimit = max === 'max' || !max ? os.totalmem() : Number(max);
      for (const line of (await read(`${g}/memory.stat`)).split('\n')) {
        const [k, v] = line.split(' ');
        if (k && v) memStats[k] = Number(v);
      }
      const usage = /^usage_usec (\d+)$/m.exec(await read(`${g}/cpu.stat`));
      cpuTotal = usage ? Number(usage[1]) * 1000 : 0;
      pids = await num(`${g}/pids.current`);
    }
    const stat = (await read('/proc/stat')).split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    const systemUsage = (stat.reduce((a, b) => a + b, 0) * 1e9) / 100;
    return {
      read: new Date().toISOString(),
      name: rec.Name,
      id,
      pids_stats: { current: pids, ...(rec.HostConfig.PidsLimit ? { limit: rec.HostConfig.PidsLimit } : {}) },
      blkio_stats: {
        io_service_bytes_recursive: null,
        io_serviced_recursive: null,
        io_queue_recursive: null,
        io_service_time_recursive: null,
        io_wait_time_recursive: null,
        io_merged_recursive: null,
        io_time_recursive: null,
        sectors_recursive: null,
      },
      num_procs: 0,
      storage_stats: {},
      cpu_stats: {
        cpu_usage: { total_usage: cpuTotal, percpu_usage: percpu, usage_in_kernelmode: 0, usage_in_usermode: 0 },
        system_cpu_usage: systemUsage,
        online_cpus: os.cpus().length,
        throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
      },
      memory_stats: rec.State.Running
        ? { usage: memUsage, max_usage: memMax, stats: memStats, limit: Math.min(memLimit, os.totalmem()) }
        : {},
      networks: {},
    };
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

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** Docker's container path stat, with Go's os.FileMode bits. */
function pathStat(p: string, found: { host: string; stat: import('node:fs').Stats }): PathStat {
  const st = found.stat;
  let mode = st.mode & 0o777;
  if (st.isDirectory()) mode += 2 ** 31;
  if (st.isSymbolicLink()) mode += 2 ** 27;
  if (st.isFIFO()) mode += 2 ** 25;
  if (st.isSocket()) mode += 2 ** 24;
  if (st.mode & 0o4000) mode += 2 ** 23;
  if (st.mode & 0o2000) mode += 2 ** 22;
  if (st.isCharacterDevice()) mode += 2 ** 21 + 2 ** 26;
  if (st.isBlockDevice()) mode += 2 ** 26;
  if (st.mode & 0o1000) mode += 2 ** 20;
  return {
    name: path.posix.basename(p.replace(/\/+$/, '')) || '/',
    size: st.size,
    mode,
    mtime: st.mtime.toISOString(),
    linkTarget: st.isSymbolicLink() ? readlinkSync(found.host) : '',
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export function mergeEnv(base: string[], extra: string[]): string[] {
  const out = [...base];
  for (const e of extra) {
    const key = e.split('=')[0]!;
    const i = out.findIndex((x) => x.split('=')[0] === key);
    if (!e.includes('=')) {
      // `-e NAME` without a value takes the client's; the CLI resolves it, so drop it here.
      continue;
    }
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

function hostsFile(hostname: string, extra: string[], entries: string[]): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const e of extra) {
    const i = e.indexOf(':');
    if (i > 0) lines.push(`${e.slice(i + 1)}\t${e.slice(0, i)}`);
  }
  lines.push(...entries);
  if (!entries.length) lines.push(`127.0.1.1\t${hostname}`);
  return lines.join('\n') + '\n';
}

async function resolvConf(dns: string[], search: string[], options: string[]): Promise<string> {
  let host = '';
  try {
    host = await fs.readFile('/etc/resolv.conf', 'utf8');
  } catch {
    host = '';
  }
  const servers = dns.length
    ? dns
    : host
        .split('\n')
        .filter((l) => /^\s*nameserver\s+/.test(l))
        .map((l) => l.trim().split(/\s+/)[1]!)
        .filter((s) => !s.startsWith('127.'));
  const searches = search.length
    ? search
    : host
        .split('\n')
        .filter((l) => /^\s*search\s+/.test(l))
        .flatMap((l) => l.trim().split(/\s+/).slice(1));
  const lines: string[] = [];
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  for (const s of servers.length ? servers : ['8.8.8.8', '8.8.4.4']) lines.push(`nameserver ${s}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Did the kernel's OOM killer act in this container's memory cgroup (v1 or v2)? */
async function oomKilled(id: string): Promise<boolean> {
  for (const f of [
    `/sys/fs/cgroup/memory/gantry/${id}/memory.oom_control`,
    `/sys/fs/cgroup/gantry/${id}/memory.events`,
  ]) {
    try {
      const text = await fs.readFile(f, 'utf8');
      const m = /^oom_kill (\d+)$/m.exec(text);
      if (m) return Number(m[1]) > 0;
    } catch {
      // Not this cgroup version.
    }
  }
  return false;
}

function parseLogSize(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d+)([kmg]?)$/i.exec(v.trim());
  if (!m) throw invalid(`invalid max-size: ${v}`);
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
}

async function writeCtl(ctl: string, height: number, width: number): Promise<void> {
  const fh = await fs.open(ctl, 'a');
  try {
    await fh.write(`1 ${height} ${width}\n`);
  } finally {
    await fh.close();
  }
}

/** Exit code the docker CLI derives from a start error: 127 not found, 126 not executable, else 125. */
export function exitCodeFor(err: unknown): number {
  const m = (err as Error).message ?? '';
  if (/executable file not found|no such file or directory/.test(m)) return 127;
  if (/permission denied|is a directory/.test(m)) return 126;
  return 125;
}

function translateStartError(err: unknown): GantryError {
  const msg = (err as Error).message ?? String(err);
  let text = msg.replace(/^runc create failed: /, '').replace(/^crun: /, '');
  const exec =
    /exec: "([^"]+)": stat [^:]+: no such file or directory/.exec(text) ??
    /exec: "([^"]+)": executable file not found in \$PATH/.exec(text);
  if (exec) text = `unable to start container process: exec: "${exec[1]}": executable file not found in $PATH`;
  return new GantryError(
    'invalid',
    `failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: ${text}: unknown`,
  );
}

/**
 * Copy what the image has at a volume's destination into the empty volume, keeping owners and modes
 * (`cp -a`). The destination resolves inside the container's root as the container sees it, and cp
 * reads it through the directory's fd, so an image's symlink never makes it copy the host's files.
 */
async function copyUp(rootfs: string, destination: string, volumeDir: string): Promise<void> {
  const entries = await fs.readdir(volumeDir).catch(() => ['?']);
  if (entries.length) return;
  let dirFd: number;
  try {
    dirFd = await ConfinedDir.with(rootfs, 'in-root', (root) =>
      root.open(destination, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY),
    );
  } catch {
    return; // Nothing (or no directory) there in the image.
  }
  try {
    const st = fstatSync(dirFd);
    if (!(await fs.readdir(fdPath(dirFd))).length) return;
    await new Promise<void>((resolve, reject) => {
      const child = spawn('cp', ['-a', '/proc/self/fd/3/.', `${volumeDir}/`], {
        stdio: ['ignore', 'ignore', 'pipe', dirFd],
      });
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`copying image content into the volume failed: ${err.trim()}`)),
      );
    });
    await fs.chown(volumeDir, st.uid, st.gid);
    await fs.chmod(volumeDir, st.mode & 0o7777);
  } finally {
    closeSync(dirFd);
  }
}
