/**
 * The flags of `gantry run` and `gantry create`, as the docker CLI's: turned into the Engine API's
 * create body (Config and HostConfig), with Docker's parsing of durations, sizes, env files, ports,
 * mounts, restart policies, ulimits and the like.
 */
import { readFileSync } from 'node:fs';
import { keyValueMap } from './common.js';
import { parseExpose, parseMount, parsePublish } from './netflags.js';
import { goDurationNs } from '../../common/time.js';

export interface RunOpts {
  detach?: boolean;
  detachKeys?: string;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
  init?: boolean;
  network?: string;
  net?: string;
  pid?: string;
  ipc?: string;
  uts?: string;
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  oomKillDisable?: boolean;
  capAdd: string[];
  capDrop: string[];
  privileged?: boolean;
  securityOpt: string[];
  readOnly?: boolean;
  tmpfs: string[];
  shmSize?: string;
  device: string[];
  sysctl: string[];
  ulimit: string[];
  restart?: string;
  stopSignal?: string;
  stopTimeout?: string;
  label: string[];
  logOpt: string[];
  runtime?: string;
  addHost: string[];
  dns: string[];
  cgroupns?: string;
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  healthcheck?: boolean;
  publish: string[];
  publishAll?: boolean;
  expose: string[];
  volume: string[];
  mount: string[];
  volumesFrom: string[];
  link: string[];
  networkAlias: string[];
  dnsSearch: string[];
  dnsOption: string[];
}

function healthcheck(o: RunOpts): Record<string, unknown> | undefined {
  if (o.healthcheck === false) return { Test: ['NONE'] };
  if (!o.healthCmd && !o.healthInterval && !o.healthTimeout && !o.healthRetries && !o.healthStartPeriod)
    return undefined;
  return {
    Test: o.healthCmd ? ['CMD-SHELL', o.healthCmd] : undefined,
    Interval: goDurationNs(o.healthInterval),
    Timeout: goDurationNs(o.healthTimeout),
    Retries: o.healthRetries ? Number(o.healthRetries) : undefined,
    StartPeriod: goDurationNs(o.healthStartPeriod),
  };
}

function size(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)$/i.exec(v.trim());
  if (!m) throw new Error(`invalid size: '${v}'`);
  return Math.round(
    Number(m[1]) *
      { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'],
  );
}

function envList(opts: RunOpts): string[] {
  const out: string[] = [];
  for (const f of opts.envFile) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const t = line.trim();
      if (!t || t.startsWith('#')) continue;
      out.push(t.includes('=') ? t : `${t}=${process.env[t] ?? ''}`);
    }
  }
  for (const e of opts.env) out.push(e.includes('=') ? e : `${e}=${process.env[e] ?? ''}`);
  return out;
}

export function createBody(image: string, args: string[], o: RunOpts): Record<string, unknown> {
  const restart = o.restart ? /^([a-z-]+)(?::(\d+))?$/.exec(o.restart) : null;
  if (o.restart && !restart) throw new Error(`invalid restart policy format`);
  const ulimits = o.ulimit.map((u) => {
    const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(u);
    if (!m) throw new Error(`invalid ulimit argument: ${u}`);
    return { Name: m[1], Soft: Number(m[2]), Hard: Number(m[3] ?? m[2]) };
  });
  const tmpfs: Record<string, string> = {};
  for (const t of o.tmpfs) {
    const i = t.indexOf(':');
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  const sysctls: Record<string, string> = {};
  for (const s of o.sysctl) {
    const i = s.indexOf('=');
    sysctls[s.slice(0, i)] = s.slice(i + 1);
  }
  const labels = keyValueMap(o.label);
  const logOpts: Record<string, string> = {};
  for (const l of o.logOpt) {
    const i = l.indexOf('=');
    logOpts[l.slice(0, i)] = l.slice(i + 1);
  }
  const devices = o.device.map((d) => {
    const [host, cont, perms] = d.split(':');
    return { PathOnHost: host, PathInContainer: cont || host, CgroupPermissions: perms || 'rwm' };
  });
  const attach = !o.detach;
  const published = parsePublish(o.publish);
  const network = o.network ?? o.net ?? 'default';
  return {
    ExposedPorts: { ...parseExpose(o.expose), ...published.exposed },
    NetworkingConfig: o.networkAlias.length
      ? { EndpointsConfig: { [network]: { Aliases: o.networkAlias } } }
      : undefined,
    Image: image,
    Cmd: args.length ? args : undefined,
    Entrypoint: o.entrypoint !== undefined ? (o.entrypoint === '' ? [] : [o.entrypoint]) : undefined,
    Env: envList(o),
    WorkingDir: o.workdir,
    User: o.user,
    Hostname: o.hostname,
    Tty: !!o.tty,
    OpenStdin: !!o.interactive,
    StdinOnce: !!o.interactive && attach,
    AttachStdin: !!o.interactive && attach,
    AttachStdout: attach,
    AttachStderr: attach,
    Labels: labels,
    StopSignal: o.stopSignal,
    Healthcheck: healthcheck(o),
    StopTimeout: o.stopTimeout !== undefined ? Number(o.stopTimeout) : undefined,
    HostConfig: {
      AutoRemove: !!o.rm,
      NetworkMode: network,
      PortBindings: published.bindings,
      PublishAllPorts: !!o.publishAll,
      Binds: o.volume,
      Mounts: o.mount.map(parseMount),
      VolumesFrom: o.volumesFrom,
      Links: o.link,
      DnsSearch: o.dnsSearch,
      DnsOptions: o.dnsOption,
      PidMode: o.pid,
      IpcMode: o.ipc,
      UTSMode: o.uts,
      CgroupnsMode: o.cgroupns,
      Memory: size(o.memory),
      MemorySwap: size(o.memorySwap),
      MemoryReservation: size(o.memoryReservation),
      NanoCpus: o.cpus ? Math.round(Number(o.cpus) * 1e9) : undefined,
      CpuShares: o.cpuShares ? Number(o.cpuShares) : undefined,
      CpusetCpus: o.cpusetCpus,
      PidsLimit: o.pidsLimit ? Number(o.pidsLimit) : undefined,
      OomKillDisable: o.oomKillDisable,
      CapAdd: o.capAdd,
      CapDrop: o.capDrop,
      Privileged: !!o.privileged,
      SecurityOpt: o.securityOpt.map((s) => {
        const m = /^seccomp[=:](.*)$/.exec(s);
        return m && m[1] !== 'unconfined' ? `seccomp=${readFileSync(m[1]!, 'utf8')}` : s;
      }),
      ReadonlyRootfs: !!o.readOnly,
      Tmpfs: tmpfs,
      ShmSize: size(o.shmSize),
      Devices: devices,
      Sysctls: sysctls,
      Ulimits: ulimits,
      RestartPolicy: restart ? { Name: restart[1], MaximumRetryCount: Number(restart[2] ?? 0) } : { Name: 'no' },
      LogConfig: { Type: 'json-file', Config: logOpts },
      Runtime: o.runtime,
      Init: o.init ? true : undefined,
      ExtraHosts: o.addHost,
      Dns: o.dns,
    },
  };
}
