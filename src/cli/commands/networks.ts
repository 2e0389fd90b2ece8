/** Network and volume commands, and `port`: Docker's flags, columns and messages. */
import type { Command } from 'commander';
import { renderRows } from '../format/table.js';
import {
  action,
  clientOf,
  collect,
  filtersJson,
  forEachName,
  inspectEach,
  keyValueMap,
  topAndGroup,
} from './common.js';

interface NetworkSummary {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  Labels: Record<string, string>;
  Created: string;
}

interface VolumeSummary {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Labels: Record<string, string> | null;
  Scope: string;
}

const labelsText = (l: Record<string, string> | null): string =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

function registerNetworks(program: Command): void {
  const network = program.command('network').description('Manage networks');
  network
    .command('create')
    .description('Create a network')
    .argument('<name>')
    .option('-d, --driver <driver>', 'driver to manage the network', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR format that represents a network segment', collect, [])
    .option('--gateway <ip>', 'IPv4 gateway for the master subnet', collect, [])
    .option('--internal', 'restrict external access to the network')
    .option('--label <label>', 'set metadata on a network', collect, [])
    .option('-o, --opt <opt>', 'set driver specific options', collect, [])
    .action(
      action(
        async (
          name: string,
          o: {
            driver: string;
            subnet: string[];
            gateway: string[];
            internal?: boolean;
            label: string[];
            opt: string[];
          },
          cmd: Command,
        ) => {
          const config = o.subnet.map((s, i) => ({ Subnet: s, Gateway: o.gateway[i] }));
          const res = await clientOf(cmd).json<{ Id: string }>('POST', '/networks/create', {
            body: {
              Name: name,
              Driver: o.driver,
              Internal: !!o.internal,
              IPAM: { Driver: 'default', Config: config },
              Labels: keyValueMap(o.label),
              Options: keyValueMap(o.opt),
            },
          });
          process.stdout.write(`${res.Id}\n`);
        },
      ),
    );
  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-f, --filter <filter>', 'provide filter values (e.g. "driver=bridge")', collect, [])
    .option('--format <format>', 'format output using a Go template')
    .option('--no-trunc', 'do not truncate the output')
    .option('-q, --quiet', 'only display network IDs')
    .action(
      action(async (o: { filter: string[]; format?: string; trunc: boolean; quiet?: boolean }, cmd: Command) => {
        const list = await clientOf(cmd).json<NetworkSummary[]>('GET', '/networks', {
          query: { filters: filtersJson(o.filter) },
        });
        const rows = list
          .sort((a, b) => a.Name.localeCompare(b.Name))
          .map((n) => ({
            ID: o.trunc ? n.Id.slice(0, 12) : n.Id,
            Name: n.Name,
            Driver: n.Driver,
            Scope: n.Scope,
            Internal: String(n.Internal),
            Labels: labelsText(n.Labels),
            CreatedAt: n.Created,
          }));
        let format = o.format ?? 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
        if (o.quiet) format = '{{.ID}}';
        if (format === 'json') format = '{{json .}}';
        process.stdout.write(
          renderRows(format, rows, {
            ID: 'NETWORK ID',
            Name: 'NAME',
            Driver: 'DRIVER',
            Scope: 'SCOPE',
            Internal: 'INTERNAL',
            Labels: 'LABELS',
            CreatedAt: 'CREATED',
          }),
        );
      }),
    );
  network
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<networks...>')
    .option('-f, --format <format>', 'format output using a Go template')
    .action(
      action(async (names: string[], o: { format?: string }, cmd: Command) =>
        inspectEach(names, (n) => clientOf(cmd).json('GET', `/networks/${encodeURIComponent(n)}`), o.format),
      ),
    );
  network
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<networks...>')
    .action(
      action(async (names: string[], _o: unknown, cmd: Command) => {
        await forEachName(names, (n) => clientOf(cmd).call('DELETE', `/networks/${encodeURIComponent(n)}`));
      }),
    );
  network
    .command('connect')
    .description('Connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <alias>', 'add network-scoped alias for the container', collect, [])
    .action(
      action(async (net: string, container: string, o: { alias: string[] }, cmd: Command) => {
        await clientOf(cmd).call('POST', `/networks/${encodeURIComponent(net)}/connect`, {
          body: { Container: container, EndpointConfig: { Aliases: o.alias } },
        });
      }),
    );
  network
    .command('disconnect')
    .description('Disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'force the container to disconnect from a network')
    .action(
      action(async (net: string, container: string, o: { force?: boolean }, cmd: Command) => {
        await clientOf(cmd).call('POST', `/networks/${encodeURIComponent(net)}/disconnect`, {
          body: { Container: container, Force: !!o.force },
        });
      }),
    );
  network
    .command('prune')
    .description('Remove all unused networks')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const res = await clientOf(cmd).json<{ NetworksDeleted: string[] | null }>('POST', '/networks/prune');
        if (res.NetworksDeleted?.length) process.stdout.write(`Deleted Networks:\n${res.NetworksDeleted.join('\n')}\n`);
      }),
    );
}

function registerVolumes(program: Command): void {
  const volume = program.command('volume').description('Manage volumes');
  volume
    .command('create')
    .description('Create a volume')
    .argument('[name]')
    .option('-d, --driver <driver>', 'specify volume driver name', 'local')
    .option('--label <label>', 'set metadata for a volume', collect, [])
    .option('-o, --opt <opt>', 'set driver specific options', collect, [])
    .action(
      action(async (name: string | undefined, o: { driver: string; label: string[]; opt: string[] }, cmd: Command) => {
        const v = await clientOf(cmd).json<VolumeSummary>('POST', '/volumes/create', {
          body: { Name: name ?? '', Driver: o.driver, Labels: keyValueMap(o.label), DriverOpts: keyValueMap(o.opt) },
        });
        process.stdout.write(`${v.Name}\n`);
      }),
    );
  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-f, --filter <filter>', 'provide filter values (e.g. "dangling=true")', collect, [])
    .option('--format <format>', 'format output using a Go template')
    .option('-q, --quiet', 'only display volume names')
    .action(
      action(async (o: { filter: string[]; format?: string; quiet?: boolean }, cmd: Command) => {
        const res = await clientOf(cmd).json<{ Volumes: VolumeSummary[] | null }>('GET', '/volumes', {
          query: { filters: filtersJson(o.filter) },
        });
        const rows = (res.Volumes ?? [])
          .sort((a, b) => a.Name.localeCompare(b.Name))
          .map((v) => ({
            Name: v.Name,
            Driver: v.Driver,
            Mountpoint: v.Mountpoint,
            Labels: labelsText(v.Labels),
            Scope: v.Scope,
          }));
        let format = o.format ?? 'table {{.Driver}}\t{{.Name}}';
        if (o.quiet) format = '{{.Name}}';
        if (format === 'json') format = '{{json .}}';
        process.stdout.write(
          renderRows(format, rows, {
            Name: 'VOLUME NAME',
            Driver: 'DRIVER',
            Mountpoint: 'MOUNTPOINT',
            Labels: 'LABELS',
            Scope: 'SCOPE',
          }),
        );
      }),
    );
  volume
    .command('inspect')
    .description('Display detailed information on one or more volumes')
    .argument('<volumes...>')
    .option('-f, --format <format>', 'format output using a Go template')
    .action(
      action(async (names: string[], o: { format?: string }, cmd: Command) =>
        inspectEach(names, (n) => clientOf(cmd).json('GET', `/volumes/${encodeURIComponent(n)}`), o.format),
      ),
    );
  volume
    .command('rm')
    .alias('remove')
    .description('Remove one or more volumes')
    .argument('<volumes...>')
    .option('-f, --force', 'force the removal of one or more volumes')
    .action(
      action(async (names: string[], o: { force?: boolean }, cmd: Command) => {
        await forEachName(names, (n) =>
          clientOf(cmd).call('DELETE', `/volumes/${encodeURIComponent(n)}`, {
            query: { force: o.force ? '1' : undefined },
          }),
        );
      }),
    );
  volume
    .command('prune')
    .description('Remove unused local volumes')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', 'provide filter values (e.g. "label=<label>")', collect, [])
    .action(
      action(async (o: { all?: boolean; filter: string[] }, cmd: Command) => {
        const res = await clientOf(cmd).json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(
          'POST',
          '/volumes/prune',
          { query: { filters: filtersJson([...o.filter, ...(o.all ? ['all=true'] : [])]) } },
        );
        if (res.VolumesDeleted?.length) process.stdout.write(`Deleted Volumes:\n${res.VolumesDeleted.join('\n')}\n\n`);
        process.stdout.write(`Total reclaimed space: ${res.SpaceReclaimed}B\n`);
      }),
    );
}

function registerPort(program: Command): void {
  const container = program.commands.find((c) => c.name() === 'container') ?? program.command('container');
  topAndGroup(program, container, 'port', 'port', (c) =>
    c
      .description('List port mappings or a specific mapping for the container')
      .argument('<container>')
      .argument('[port]')
      .action(
        action(async (ref: string, port: string | undefined, _o: unknown, cmd: Command) => {
          const info = await clientOf(cmd).json<{
            NetworkSettings: { Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> };
          }>('GET', `/containers/${encodeURIComponent(ref)}/json`);
          const wanted = port ? (port.includes('/') ? port : `${port}/tcp`) : undefined;
          const lines: string[] = [];
          for (const [key, bindings] of Object.entries(info.NetworkSettings.Ports ?? {}).sort()) {
            if (wanted && key !== wanted) continue;
            for (const b of bindings ?? [])
              lines.push(wanted ? `${b.HostIp}:${b.HostPort}` : `${key} -> ${b.HostIp}:${b.HostPort}`);
          }
          if (wanted && !lines.length) throw new Error(`No public port '${wanted}' published for ${ref}`);
          if (lines.length) process.stdout.write(lines.join('\n') + '\n');
        }),
      ),
  );
}

export function registerNetworkCommands(program: Command): void {
  registerNetworks(program);
  registerVolumes(program);
  registerPort(program);
}
