/** System commands: version, info, events, system df, inspect. */
import os from 'node:os';
import type { Command } from 'commander';
import { shortId } from '../../common/digest.js';
import { humanSize } from '../../engine/progress.js';
import { GANTRY_VERSION } from '../../version.js';
import { ApiError } from '../../api/docker/client.js';
import { renderRows, since } from '../format/table.js';
import { renderTemplate } from '../format/template.js';
import { jsonLines } from '../progress.js';
import { action, clientOf, collect, filtersJson, inspectEach } from './common.js';
import { API_VERSION } from '../../api/docker/router.js';

interface VersionInfo {
  Version: string;
  ApiVersion: string;
  MinAPIVersion: string;
  GitCommit: string;
  GoVersion: string;
  Os: string;
  Arch: string;
  KernelVersion: string;
  BuildTime: string;
  Platform?: { Name: string };
}

async function version(cmd: Command, opts: { format?: string }): Promise<void> {
  const client = {
    Platform: { Name: '' },
    Version: GANTRY_VERSION,
    ApiVersion: API_VERSION,
    DefaultAPIVersion: API_VERSION,
    GoVersion: `node${process.versions.node}`,
    Os: 'linux',
    Arch: os.arch() === 'x64' ? 'amd64' : os.arch(),
    Context: 'default',
  };
  let server: VersionInfo | undefined;
  let serverErr: unknown;
  try {
    server = await clientOf(cmd).json<VersionInfo>('GET', '/version');
  } catch (err) {
    serverErr = err;
  }
  if (opts.format) {
    process.stdout.write(renderTemplate(opts.format, { Client: client, Server: server ?? null }) + '\n');
  } else {
    process.stdout.write(
      `Client:\n Version:           ${client.Version}\n API version:       ${client.ApiVersion}\n Go version:        ${client.GoVersion}\n OS/Arch:           ${client.Os}/${client.Arch}\n Context:           default\n`,
    );
    if (server) {
      process.stdout.write(
        `\nServer: ${server.Platform?.Name ?? 'Gantry Engine'}\n Engine:\n  Version:          ${server.Version}\n  API version:      ${server.ApiVersion} (minimum version ${server.MinAPIVersion})\n  Go version:       ${server.GoVersion}\n  Git commit:       ${server.GitCommit}\n  Built:            ${server.BuildTime}\n  OS/Arch:          ${server.Os}/${server.Arch}\n  Experimental:     false\n`,
      );
    }
  }
  if (serverErr) throw serverErr;
}

async function info(cmd: Command, opts: { format?: string }): Promise<void> {
  const i = await clientOf(cmd).json<Record<string, unknown>>('GET', '/info');
  if (opts.format) {
    process.stdout.write(renderTemplate(opts.format, i) + '\n');
    return;
  }
  const reg = i.RegistryConfig as {
    InsecureRegistryCIDRs?: string[];
    IndexConfigs?: Record<string, { Secure: boolean }>;
    Mirrors?: string[];
  };
  const insecure = [
    ...Object.entries(reg?.IndexConfigs ?? {})
      .filter(([, c]) => !c.Secure)
      .map(([k]) => k),
    ...(reg?.InsecureRegistryCIDRs ?? []),
  ];
  const lines = [
    'Server:',
    ` Containers: ${i.Containers}`,
    `  Running: ${i.ContainersRunning}`,
    `  Paused: ${i.ContainersPaused}`,
    `  Stopped: ${i.ContainersStopped}`,
    ` Images: ${i.Images}`,
    ` Server Version: ${i.ServerVersion}`,
    ` Storage Driver: ${i.Driver}`,
    ` Logging Driver: ${i.LoggingDriver}`,
    ` Cgroup Driver: ${i.CgroupDriver}`,
    ` Cgroup Version: ${i.CgroupVersion}`,
    ` Kernel Version: ${i.KernelVersion}`,
    ` Operating System: ${i.OperatingSystem}`,
    ` OSType: ${i.OSType}`,
    ` Architecture: ${i.Architecture}`,
    ` CPUs: ${i.NCPU}`,
    ` Total Memory: ${(Number(i.MemTotal) / 1024 ** 3).toFixed(2)}GiB`,
    ` Name: ${i.Name}`,
    ` ID: ${i.ID}`,
    ` Docker Root Dir: ${i.DockerRootDir}`,
    ` Debug Mode: ${i.Debug}`,
    ' Insecure Registries:',
    ...insecure.map((x) => `  ${x}`),
  ];
  if (reg?.Mirrors?.length) lines.push(' Registry Mirrors:', ...reg.Mirrors.map((m) => `  ${m}`));
  lines.push(` Live Restore Enabled: ${i.LiveRestoreEnabled}`);
  process.stdout.write(lines.join('\n') + '\n');
}

async function events(
  cmd: Command,
  opts: { since?: string; until?: string; filter: string[]; format?: string },
): Promise<void> {
  const toUnix = (v?: string): string | undefined => {
    if (!v) return undefined;
    if (/^\d+(\.\d+)?$/.test(v)) return v;
    const d = /^(\d+)(s|m|h)$/.exec(v);
    if (d) return String(Date.now() / 1000 - Number(d[1]) * { s: 1, m: 60, h: 3600 }[d[2] as 's' | 'm' | 'h']);
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new Error(`invalid time ${v}`);
    return String(t / 1000);
  };
  const res = await clientOf(cmd).stream('GET', '/events', {
    query: { since: toUnix(opts.since), until: toUnix(opts.until), filters: filtersJson(opts.filter) },
  });
  for await (const e of jsonLines(res)) {
    const ev = e as unknown as {
      Type: string;
      Action: string;
      Actor: { ID: string; Attributes: Record<string, string> };
      timeNano: number;
    };
    if (opts.format) {
      process.stdout.write(renderTemplate(opts.format === 'json' ? '{{json .}}' : opts.format, ev) + '\n');
      continue;
    }
    const ns = BigInt(ev.timeNano);
    const iso = new Date(Number(ns / 1_000_000n)).toISOString().replace(/\.\d+Z$/, '');
    const attrs = Object.entries(ev.Actor.Attributes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    process.stdout.write(
      `${iso}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z ${ev.Type} ${ev.Action} ${ev.Actor.ID}${attrs ? ` (${attrs})` : ''}\n`,
    );
  }
}

async function df(cmd: Command, opts: { verbose?: boolean; format?: string }): Promise<void> {
  const d = await clientOf(cmd).json<{
    LayersSize: number;
    Images: Array<{
      Id: string;
      RepoTags: string[];
      Size: number;
      SharedSize: number;
      Containers: number;
      Created: number;
    }>;
    Containers: Array<{ State: string; SizeRw: number }>;
    Volumes: unknown[];
    BuildCache: unknown[];
  }>('GET', '/system/df');
  const active = d.Images.filter((i) => i.Containers > 0).length;
  const running = d.Containers.filter((c) => c.State === 'running' || c.State === 'paused');
  const containerSize = d.Containers.reduce((a, c) => a + c.SizeRw, 0);
  const stoppedSize = containerSize - running.reduce((a, c) => a + c.SizeRw, 0);
  const rows = [
    {
      Type: 'Images',
      TotalCount: String(d.Images.length),
      Active: String(active),
      Size: humanSize(d.LayersSize),
      Reclaimable: `${humanSize(d.Images.filter((i) => i.Containers <= 0).reduce((a, i) => a + i.Size - Math.max(0, i.SharedSize), 0))} (${d.LayersSize ? 100 : 0}%)`,
    },
    {
      Type: 'Containers',
      TotalCount: String(d.Containers.length),
      Active: String(running.length),
      Size: humanSize(containerSize),
      Reclaimable: humanSize(stoppedSize),
    },
    { Type: 'Local Volumes', TotalCount: String(d.Volumes.length), Active: '0', Size: '0B', Reclaimable: '0B' },
    { Type: 'Build Cache', TotalCount: String(d.BuildCache.length), Active: '0', Size: '0B', Reclaimable: '0B' },
  ];
  if (opts.verbose) {
    process.stdout.write('Images space usage:\n\n');
    const imgRows = d.Images.flatMap((i) =>
      (i.RepoTags.length ? i.RepoTags : ['<none>:<none>']).map((t) => ({
        Repository: t.slice(0, t.lastIndexOf(':')),
        Tag: t.slice(t.lastIndexOf(':') + 1),
        ID: shortId(i.Id),
        CreatedSince: since(i.Created),
        Size: humanSize(i.Size),
        SharedSize: humanSize(Math.max(0, i.SharedSize)),
        UniqueSize: humanSize(i.Size - Math.max(0, i.SharedSize)),
        Containers: String(Math.max(0, i.Containers)),
      })),
    );
    process.stdout.write(
      renderRows(
        'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
        imgRows,
        {
          Repository: 'REPOSITORY',
          Tag: 'TAG',
          ID: 'IMAGE ID',
          CreatedSince: 'CREATED',
          Size: 'SIZE',
          SharedSize: 'SHARED SIZE',
          UniqueSize: 'UNIQUE SIZE',
          Containers: 'CONTAINERS',
        },
      ),
    );
    return;
  }
  process.stdout.write(
    renderRows(opts.format ?? 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}', rows, {
      Type: 'TYPE',
      TotalCount: 'TOTAL',
      Active: 'ACTIVE',
      Size: 'SIZE',
      Reclaimable: 'RECLAIMABLE',
    }),
  );
}

/** Generic `inspect`: the first kind of object (container, image, network, volume) that has the name. */
async function inspectAny(cmd: Command, names: string[], opts: { format?: string; type?: string }): Promise<void> {
  const client = clientOf(cmd);
  const paths: Record<string, (n: string) => string> = {
    container: (n) => `/containers/${n}/json`,
    image: (n) => `/images/${n}/json`,
    network: (n) => `/networks/${n}`,
    volume: (n) => `/volumes/${n}`,
  };
  if (opts.type && !paths[opts.type]) throw new Error(`"${opts.type}" is not a valid value for --type`);
  await inspectEach(
    names,
    async (n) => {
      for (const t of opts.type ? [opts.type] : Object.keys(paths)) {
        try {
          return await client.json('GET', paths[t]!(encodeURIComponent(n)));
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 404) throw err;
        }
      }
      throw new Error(`No such object: ${n}`);
    },
    opts.format,
  );
}

export function registerSystemCommands(program: Command): void {
  program
    .command('version')
    .description('Show the Gantry version information')
    .option('-f, --format <format>', 'format output using a Go template')
    .action(action(async (opts: { format?: string }, cmd: Command) => version(cmd, opts)));
  const infoCmd = (c: Command): Command =>
    c
      .description('Display system-wide information')
      .option('-f, --format <format>', 'format output using a Go template')
      .action(action(async (opts: { format?: string }, cmd: Command) => info(cmd, opts)));
  infoCmd(program.command('info'));
  const eventsCmd = (c: Command): Command =>
    c
      .description('Get real time events from the server')
      .option('--since <time>', 'show all events created since timestamp')
      .option('--until <time>', 'stream events until this timestamp')
      .option('-f, --filter <filter>', 'filter output based on conditions provided', collect, [])
      .option('--format <format>', 'format output using a Go template')
      .action(
        action(async (opts: { since?: string; until?: string; filter: string[]; format?: string }, cmd: Command) =>
          events(cmd, opts),
        ),
      );
  eventsCmd(program.command('events'));
  const system = program.command('system').description('Manage Gantry');
  infoCmd(system.command('info'));
  eventsCmd(system.command('events'));
  system
    .command('df')
    .description('Show disk usage')
    .option('-v, --verbose', 'show detailed information on space usage')
    .option('--format <format>', 'format output using a Go template')
    .action(action(async (opts: { verbose?: boolean; format?: string }, cmd: Command) => df(cmd, opts)));
  program
    .command('inspect')
    .description('Return low-level information on Gantry objects')
    .argument('<names...>')
    .option('-f, --format <format>', 'format output using a Go template')
    .option('--type <type>', 'return JSON for specified type')
    .action(
      action(async (names: string[], opts: { format?: string; type?: string }, cmd: Command) =>
        inspectAny(cmd, names, opts),
      ),
    );
}
