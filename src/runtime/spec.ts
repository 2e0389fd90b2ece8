/**
 * The OCI runtime spec (config.json) of a container, from its Docker config and host config, with
 * Docker's defaults: capabilities, masked and read-only paths, mounts, devices, a seccomp profile,
 * rlimits clamped to what the host allows, namespaces (own or joined) and cgroup resources.
 */
import { statSync } from 'node:fs';
import { invalid } from '../common/errors.js';
import type { ContainerRecord, HostConfig } from '../containers/types.js';
import { clampLimit, hostHasCapability } from './limits.js';
import { defaultSeccompProfile, type SeccompProfile } from './seccomp.js';
import type { ResolvedUser } from './user.js';

export const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const ALL_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Device cgroup rules Docker allows by default (the devices runc creates, plus ptys and tun). */
const DEFAULT_DEVICE_RULES = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
];

export interface OciMount {
  destination: string;
  type?: string;
  source: string;
  options?: string[];
}

export interface SpecInputs {
  rec: ContainerRecord;
  rootfs: string;
  user: ResolvedUser;
  hostname: string;
  /** Files the engine generated, bind mounted in: /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etcFiles: Array<{ source: string; destination: string }>;
  /** Network namespace: path to join, 'host', or undefined for a fresh one. */
  netns?: string | 'host';
  pidns?: string | 'host';
  ipcns?: string | 'host';
  utsHost?: boolean;
  cgroupsPath: string;
  extraMounts?: OciMount[];
  /** Path of a static init (tini) to run as PID 1, when --init. */
  initPath?: string;
}

function capName(c: string): string {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u : `CAP_${u}`;
}

/** The capabilities a container gets: Docker's rules, limited to what this host can grant. */
export function computeCaps(privileged: boolean, add: string[] = [], drop: string[] = []): string[] {
  return requestedCaps(privileged, add, drop).filter(hostHasCapability);
}

function requestedCaps(privileged: boolean, add: string[], drop: string[]): string[] {
  if (privileged) return [...ALL_CAPS];
  let caps = new Set(DEFAULT_CAPS);
  const adds = add.map(capName);
  const drops = drop.map(capName);
  if (adds.includes('CAP_ALL')) caps = new Set(ALL_CAPS);
  if (drops.includes('CAP_ALL')) caps = new Set();
  for (const a of adds) {
    if (a === 'CAP_ALL') continue;
    if (!ALL_CAPS.includes(a)) throw invalid(`invalid capability: ${a}`);
    caps.add(a);
  }
  for (const d of drops) {
    if (d === 'CAP_ALL') continue;
    if (!ALL_CAPS.includes(d)) throw invalid(`invalid capability: ${d}`);
    if (!adds.includes(d)) caps.delete(d);
  }
  return [...caps];
}

function deviceOf(hostPath: string): {
  type: string;
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
} {
  const st = statSync(hostPath);
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : '';
  if (!type)
    throw invalid(`error gathering device information while adding custom device "${hostPath}": not a device node`);
  const rdev = st.rdev;
  return {
    type,
    major: (rdev >> 8) & 0xfff,
    minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
    fileMode: st.mode & 0o777,
    uid: st.uid,
    gid: st.gid,
  };
}

/** The memory, CPU and pids part of the OCI resources, from Docker's host config (create and update). */
export function cgroupResources(hc: HostConfig): Record<string, unknown> {
  const resources: Record<string, unknown> = {};
  const memory: Record<string, unknown> = {};
  if (hc.Memory) memory.limit = hc.Memory;
  if (hc.MemoryReservation) memory.reservation = hc.MemoryReservation;
  if (hc.MemorySwap && hc.MemorySwap !== 0) memory.swap = hc.MemorySwap;
  else if (hc.Memory) memory.swap = hc.Memory * 2; // Docker's default: swap equal to the memory limit
  if (hc.OomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) resources.memory = memory;
  const cpu: Record<string, unknown> = {};
  if (hc.CpuShares) cpu.shares = hc.CpuShares;
  if (hc.NanoCpus) {
    cpu.period = 100000;
    cpu.quota = Math.round((hc.NanoCpus / 1e9) * 100000);
  } else {
    if (hc.CpuPeriod) cpu.period = hc.CpuPeriod;
    if (hc.CpuQuota) cpu.quota = hc.CpuQuota;
  }
  if (hc.CpusetCpus) cpu.cpus = hc.CpusetCpus;
  if (hc.CpusetMems) cpu.mems = hc.CpusetMems;
  if (Object.keys(cpu).length) resources.cpu = cpu;
  if (hc.PidsLimit && hc.PidsLimit > 0) resources.pids = { limit: hc.PidsLimit };
  return resources;
}

export function buildSpec(inp: SpecInputs): Record<string, unknown> {
  const { rec, user } = inp;
  const hc = rec.HostConfig;
  const cfg = rec.Config;
  const privileged = !!hc.Privileged;
  const caps = computeCaps(privileged, hc.CapAdd ?? [], hc.CapDrop ?? []);
  const securityOpts = hc.SecurityOpt ?? [];
  const noNewPrivileges = securityOpts.some(
    (o) => o === 'no-new-privileges' || o === 'no-new-privileges:true' || o === 'no-new-privileges=true',
  );

  let args = [rec.Path, ...rec.Args];
  if (inp.initPath) args = ['/sbin/docker-init', '--', ...args];

  const rlimits = [clampLimit('RLIMIT_NOFILE', 1048576, 1048576)];
  for (const u of hc.Ulimits ?? []) {
    const type = `RLIMIT_${u.Name.toUpperCase()}`;
    const i = rlimits.findIndex((r) => r.type === type);
    const lim = clampLimit(type, u.Soft < 0 ? 2 ** 64 - 1 : u.Soft, u.Hard < 0 ? 2 ** 64 - 1 : u.Hard);
    if (i >= 0) rlimits[i] = lim;
    else rlimits.push(lim);
  }

  const shmSize = hc.ShmSize && hc.ShmSize > 0 ? hc.ShmSize : 64 * 1024 * 1024;
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'],
    },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
  ];
  if (inp.netns === 'host')
    mounts.splice(3, 1, {
      destination: '/sys',
      type: 'bind',
      source: '/sys',
      options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
    });
  for (const f of inp.etcFiles)
    mounts.push({ destination: f.destination, type: 'bind', source: f.source, options: ['rbind', 'rprivate'] });
  for (const [dest, opts] of Object.entries(hc.Tmpfs ?? {})) {
    const o = opts ? opts.split(',') : [];
    mounts.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...o] });
  }
  if (inp.initPath)
    mounts.push({ destination: '/sbin/docker-init', type: 'bind', source: inp.initPath, options: ['rbind', 'ro'] });
  mounts.push(...(inp.extraMounts ?? []));

  const namespaces: Array<{ type: string; path?: string }> = [];
  const ns = (type: string, mode: string | undefined): void => {
    if (mode === 'host') return;
    namespaces.push(mode ? { type, path: mode } : { type });
  };
  ns('pid', inp.pidns);
  ns('network', inp.netns);
  ns('ipc', inp.ipcns);
  if (!inp.utsHost) namespaces.push({ type: 'uts' });
  namespaces.push({ type: 'mount' });
  // A private cgroup namespace unless `--cgroupns host` (Docker's default on cgroup v2; here on v1 too).
  if (hc.CgroupnsMode !== 'host') namespaces.push({ type: 'cgroup' });

  const devices: Array<Record<string, unknown>> = [];
  const deviceRules: Array<Record<string, unknown>> = privileged
    ? [{ allow: true, access: 'rwm' }]
    : [...DEFAULT_DEVICE_RULES];
  for (const d of hc.Devices ?? []) {
    const info = deviceOf(d.PathOnHost);
    devices.push({
      path: d.PathInContainer || d.PathOnHost,
      type: info.type,
      major: info.major,
      minor: info.minor,
      fileMode: info.fileMode,
      uid: info.uid,
      gid: info.gid,
    });
    if (!privileged)
      deviceRules.push({
        allow: true,
        type: info.type,
        major: info.major,
        minor: info.minor,
        access: d.CgroupPermissions || 'rwm',
      });
  }

  const resources: Record<string, unknown> = { devices: deviceRules, ...cgroupResources(hc) };

  let seccomp: SeccompProfile | undefined;
  const seccompOpt = securityOpts.find((o) => o.startsWith('seccomp=') || o.startsWith('seccomp:'));
  if (!privileged) {
    if (!seccompOpt) seccomp = defaultSeccompProfile(caps);
    else {
      const v = seccompOpt.slice('seccomp='.length);
      if (v !== 'unconfined') {
        try {
          seccomp = JSON.parse(v) as SeccompProfile;
        } catch {
          throw invalid(`Decoding seccomp profile failed: the profile must be JSON content (the CLI reads the file)`);
        }
      }
    }
  }

  const env = [...(cfg.Env ?? [])];
  const linux: Record<string, unknown> = {
    cgroupsPath: inp.cgroupsPath,
    namespaces,
    resources,
    devices,
    maskedPaths: privileged ? [] : (hc.MaskedPaths ?? MASKED_PATHS),
    readonlyPaths: privileged ? [] : (hc.ReadonlyPaths ?? READONLY_PATHS),
    sysctl: hc.Sysctls ?? {},
  };
  if (seccomp) linux.seccomp = seccomp;
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: !!cfg.Tty,
      user: {
        uid: user.uid,
        gid: user.gid,
        additionalGids: user.additionalGids.length ? user.additionalGids : undefined,
      },
      args,
      env,
      cwd: cfg.WorkingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits,
      noNewPrivileges,
      oomScoreAdj: hc.OomScoreAdj ?? 0,
    },
    root: { path: inp.rootfs, readonly: !!hc.ReadonlyRootfs },
    hostname: inp.utsHost ? undefined : inp.hostname,
    mounts,
    linux,
  };
}
