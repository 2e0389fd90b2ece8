/** Start: namespaces, hosts and resolv.conf, mounts, the OCI spec, then conmon and the runtime; attachments waiting for the start are connected. */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  promises as fs,
  lstatSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { conflict, invalid } from '../../common/errors.js';
import { ConfinedDir, fdPath, O_PATH } from '../../common/confined.js';
import { MNT_DETACH, native } from '../../native/index.js';
import { ZERO_TIME, type ContainerRecord } from '../../containers/types.js';
import { buildSpec, type OciMount } from '../../runtime/spec.js';
import { launchConmon } from '../../runtime/runtime.js';
import { resolveUser } from '../../runtime/user.js';
import type { ContainerService } from './service.js';
import {
  copyUp,
  exitCodeFor,
  hostsFile,
  mergeEnv,
  processEnv,
  resolvConf,
  translateStartError,
  volumeEventAttrs,
} from './util.js';
import { crashPoint } from '../../common/faults.js';

export const startMethods = {
  async namespacePath(
    this: ContainerService,
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
  },

  start(this: ContainerService, ref: string): Promise<void> {
    return this.exclusive(ref, async (rec) => {
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
    });
  },

  async doStart(this: ContainerService, rec: ContainerRecord): Promise<void> {
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
    crashPoint('start:mounted');
    // Subpath mount sources, held until the runtime has mounted them.
    const held: Array<() => void> = [];
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
        fs.writeFile(rec.HostsPath, hostsFile(hostname, hc.ExtraHosts ?? [], [], this.d.networks.hostGateway())),
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
      const user = await resolveUser(rootfs, cfg.User, hc.GroupAdd ?? []);
      // moby's order: the container's own variables override what its links define.
      const env = processEnv(mergeEnv(this.linkEnvironment(rec), cfg.Env ?? []));
      if (!env.some((e) => e.startsWith('HOSTNAME='))) env.unshift(`HOSTNAME=${hostname}`);
      if (cfg.Tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
      if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);
      const useInit = hc.Init === true;
      if (useInit && !this.d.paths.initBinary) throw invalid('--init needs tini-static, which is not installed');
      const extraMounts = await this.volumeMounts(rec, rootfs, held);
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
      })
        .catch((err: unknown) => {
          throw translateStartError(err);
        })
        .finally(() => releaseHeld(held));
      crashPoint('start:conmon');
      if (wired) {
        try {
          await this.d.networks.setUp(rec, pid);
          crashPoint('start:network');
        } catch (err) {
          await rt.delete(id, true).catch(() => undefined);
          throw err;
        }
        // The address is known only now; the hosts file is bind-mounted, so it is rewritten in place.
        await fs.writeFile(
          rec.HostsPath,
          hostsFile(
            hostname,
            hc.ExtraHosts ?? [],
            [...this.ownHostEntries(rec, hostname), ...this.linkHostEntries(rec)],
            this.d.networks.hostGateway(),
          ),
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
      crashPoint('start:saved');
      try {
        await rt.start(id, pid);
      } catch (err) {
        // A process that ran and exited before its start was confirmed did start: conmon records its
        // exit, and the exit is handled as any other. Only a process that never ran failed to start.
        if (!(await this.exitRecorded(id))) {
          await rt.delete(id, true);
          rec.State = { ...rec.State, Status: 'created', Running: false, Pid: 0 };
          await this.d.store.save(rec);
          throw translateStartError(err);
        }
      }
      this.d.events.publish('container', 'start', id, this.eventAttrs(rec));
      this.startHealth(rec);
      this.startLogRotation(rec);
    } catch (err) {
      releaseHeld(held);
      if (!rec.State.Running) {
        await this.d.snapshots.unmount(id).catch(() => undefined);
        rec.State = { ...rec.State, Error: (err as Error).message, ExitCode: exitCodeFor(err) };
        await this.d.store.save(rec).catch(() => undefined);
        for (const fail of this.pendingAttach.get(id) ?? []) fail('');
        this.pendingAttach.delete(id);
        // As Docker does, a container that was to be removed when it stops is removed when it cannot start.
        // This start holds the container: the removal must not queue behind it.
        if (rec.HostConfig.AutoRemove) await this.removeHeld(rec, { force: true }).catch(() => undefined);
      }
      throw err;
    }
  },

  /** The container's own address line(s) in /etc/hosts, as Docker writes them. */
  /** Whether conmon records an exit of the container's process (it writes it just after the exit). */
  async exitRecorded(this: ContainerService, id: string): Promise<boolean> {
    for (let i = 0; i < 20; i++) {
      if ((await this.readExitCode(id)) !== undefined) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  },

  ownHostEntries(this: ContainerService, rec: ContainerRecord, hostname: string): string[] {
    return Object.values(rec.NetworkSettings?.Networks ?? {})
      .filter((ep) => ep.IPAddress)
      .map((ep) => `${ep.IPAddress}\t${hostname}`);
  },

  /** Legacy links: `<ip> <alias> <name> <short id>` for each running link target on the default bridge. */
  linkHostEntries(this: ContainerService, rec: ContainerRecord): string[] {
    const out: string[] = [];
    for (const { target, name } of this.links(rec)) {
      const ip = target.NetworkSettings?.Networks.bridge?.IPAddress;
      if (!ip) continue;
      const alias = name.split('/').pop()!;
      out.push(
        [ip, alias, ...(alias === target.Name.slice(1) ? [] : [target.Name.slice(1)]), target.Id.slice(0, 12)].join(
          '\t',
        ),
      );
    }
    return out;
  },

  /**
   * OCI mounts for the container's volumes, binds and tmpfs mounts, shallowest first. An empty volume
   * first receives what the image has at its destination, as Docker copies it.
   */
  async volumeMounts(
    this: ContainerService,
    rec: ContainerRecord,
    rootfs: string,
    held: Array<() => void>,
  ): Promise<OciMount[]> {
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
      if (m.Type === 'volume') this.d.events.publish('volume', 'mount', m.Name ?? '', volumeEventAttrs(rec, m));
      if (!existsSync(m.Source))
        throw invalid(`error while creating mount source path '${m.Source}': no such file or directory`);
      out.push({
        destination: m.Destination,
        type: 'bind',
        source: m.subpath ? subpathSource(m.Source, m.subpath, this.subpathDir(), held) : m.Source,
        options: ['rbind', m.RW ? 'rw' : 'ro', m.Propagation || 'rprivate'],
      });
    }
    return out;
  },

  /**
   * /etc/resolv.conf: the embedded DNS server first when the container is on a user-defined network
   * (it forwards other names to the host's resolvers), else the host's resolvers or `--dns`. The file
   * is bind-mounted, so it is written in place.
   */
  async writeResolvConf(this: ContainerService, rec: ContainerRecord): Promise<void> {
    const hc = rec.HostConfig;
    const embedded = this.d.networks.needsWiring(rec) ? this.d.networks.dnsServerFor(rec) : undefined;
    const text = await resolvConf(
      embedded ? [embedded, ...(hc.Dns ?? [])] : (hc.Dns ?? []),
      hc.DnsSearch ?? [],
      hc.DnsOptions?.length ? hc.DnsOptions : embedded ? ['ndots:0'] : [],
    );
    await fs.writeFile(rec.ResolvConfPath, text);
  },
};

/**
 * The source of a volume's subpath mount: the subpath opened beneath the volume's root (its symlinks
 * resolved inside the volume, never out of it, whatever a container put there) and bind-mounted to a
 * fresh mountpoint under `dir`, which the runtime mounts from; as moby's safepath does. The runtime
 * cannot mount the descriptor itself: it belongs to this mount namespace, not the container's. The
 * mountpoint is only ever unmounted and then removed alone (never with what is beneath it), also when a
 * crash left it behind (`releaseSubpathMounts`).
 */
function subpathSource(volumeRoot: string, subpath: string, dir: string, held: Array<() => void>): string {
  let fd: number;
  const root = ConfinedDir.open(volumeRoot, 'in-root');
  try {
    fd = root.open(subpath, O_PATH);
  } catch {
    throw invalid(`cannot access path ${path.posix.join(volumeRoot, subpath)}: no such file or directory`);
  } finally {
    root.close();
  }
  mkdirSync(dir, { recursive: true });
  const target = path.join(dir, randomBytes(8).toString('hex'));
  try {
    if (fstatSync(fd).isDirectory()) mkdirSync(target);
    else writeFileSync(target, '');
    native.mount(fdPath(fd), target, 'none', MS_BIND, '');
  } finally {
    closeSync(fd);
  }
  held.push(() => releaseMountpoint(target));
  return target;
}

function releaseMountpoint(target: string): void {
  try {
    native.umount2(target, MNT_DETACH);
  } catch {
    // Not mounted (a crash before the mount was made).
  }
  // Never recursive: if the unmount failed, the volume's files are beneath and must stay.
  try {
    if (lstatSync(target).isDirectory()) rmdirSync(target);
    else unlinkSync(target);
  } catch {
    // Still mounted or already gone; the next engine start tries again.
  }
}

/** Mountpoints of subpath sources a crash left behind: unmounted, then removed. */
export async function releaseSubpathMounts(dir: string): Promise<void> {
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) releaseMountpoint(path.join(dir, name));
}

function releaseHeld(held: Array<() => void>): void {
  for (const release of held.splice(0)) release();
}

const MS_BIND = 4096;
