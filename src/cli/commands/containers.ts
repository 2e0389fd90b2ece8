/** Container commands: run, create, start, attach, stop, kill, restart, rm, ps, logs, exec, wait, rename, pause, top, prune. */
import { Command } from 'commander';
import { shortId } from '../../common/digest.js';
import { humanSize } from '../../engine/progress.js';
import type { ApiClient } from '../../api/docker/client.js';
import { renderRows, since, tabwrite } from '../format/table.js';
import { action, clientOf, collect, ellipsis, filtersJson, forEachName, inspectEach, topAndGroup } from './common.js';
import type { RunOpts } from './runflags.js';
import { attachSession, createContainer, demux, execCommand, runContainer } from './attach.js';

interface Summary {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  Status: string;
  State: string;
  Ports: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }>;
  Labels: Record<string, string>;
  SizeRw?: number;
  SizeRootFs?: number;
}

async function ps(
  cmd: Command,
  o: {
    all?: boolean;
    quiet?: boolean;
    latest?: boolean;
    last?: string;
    size?: boolean;
    trunc?: boolean;
    filter: string[];
    format?: string;
  },
): Promise<void> {
  const client = clientOf(cmd);
  const limit = o.latest ? 1 : o.last ? Number(o.last) : undefined;
  const list = await client.json<Summary[]>('GET', '/containers/json', {
    query: { all: o.all ? 1 : undefined, limit, size: o.size ? 1 : undefined, filters: filtersJson(o.filter) },
  });
  const noTrunc = o.trunc === false;
  const rows = list.map((c) => ({
    ID: noTrunc ? c.Id : shortId(c.Id),
    Image: c.Image,
    Command: noTrunc ? JSON.stringify(c.Command) : JSON.stringify(ellipsis(c.Command, 20)),
    CreatedAt: new Date(c.Created * 1000).toISOString(),
    RunningFor: since(c.Created),
    Ports: c.Ports.map((p) =>
      p.PublicPort ? `${p.IP ?? '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`,
    ).join(', '),
    State: c.State,
    Status: c.Status,
    Size: c.SizeRw !== undefined ? `${humanSize(c.SizeRw)} (virtual ${humanSize(c.SizeRootFs ?? 0)})` : '',
    Names: c.Names.map((n) => n.slice(1)).join(','),
    Labels: Object.entries(c.Labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  }));
  let format = o.format;
  if (o.quiet) format = '{{.ID}}';
  if (!format || format === 'table')
    format = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${o.size ? '\t{{.Size}}' : ''}`;
  if (format === 'json') format = '{{json .}}';
  process.stdout.write(
    renderRows(format, rows, {
      ID: 'CONTAINER ID',
      Image: 'IMAGE',
      Command: 'COMMAND',
      CreatedAt: 'CREATED AT',
      RunningFor: 'CREATED',
      Ports: 'PORTS',
      State: 'STATE',
      Status: 'STATUS',
      Size: 'SIZE',
      Names: 'NAMES',
      Labels: 'LABELS',
    }),
  );
}

async function logs(
  cmd: Command,
  container: string,
  o: { follow?: boolean; timestamps?: boolean; tail?: string; since?: string; until?: string },
): Promise<void> {
  const client = clientOf(cmd);
  const info = await client.json<{ Config: { Tty: boolean } }>(
    'GET',
    `/containers/${encodeURIComponent(container)}/json`,
  );
  const toUnix = (v?: string): string | undefined => {
    if (!v) return undefined;
    if (/^\d+(\.\d+)?$/.test(v)) return v;
    const d = /^(\d+)(s|m|h)$/.exec(v);
    if (d) return String(Date.now() / 1000 - Number(d[1]) * { s: 1, m: 60, h: 3600 }[d[2] as 's' | 'm' | 'h']);
    return String(Date.parse(v) / 1000);
  };
  const res = await client.stream('GET', `/containers/${encodeURIComponent(container)}/logs`, {
    query: {
      stdout: 1,
      stderr: 1,
      follow: o.follow ? 1 : undefined,
      timestamps: o.timestamps ? 1 : undefined,
      tail: o.tail ?? 'all',
      since: toUnix(o.since),
      until: toUnix(o.until),
    },
  });
  await demux(res, info.Config.Tty);
}

const runOptions = (c: Command): Command =>
  c
    .option('-d, --detach', 'run container in background and print container ID')
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
    .option('-i, --interactive', 'keep STDIN open even if not attached')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('--rm', 'automatically remove the container when it exits')
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <env>', 'set environment variables', collect, [])
    .option('--env-file <file>', 'read in a file of environment variables', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'username or UID (format: <name|uid>[:<group|gid>])')
    .option('-h, --hostname <name>', 'container host name')
    .option('--entrypoint <cmd>', 'overwrite the default ENTRYPOINT of the image')
    .option('--init', 'run an init inside the container that forwards signals and reaps processes')
    .option('--network <mode>', 'connect a container to a network')
    .option('--net <mode>', 'alias of --network')
    .option('--pid <mode>', 'PID namespace to use')
    .option('--ipc <mode>', 'IPC mode to use')
    .option('--uts <mode>', 'UTS namespace to use')
    .option('--cgroupns <mode>', 'cgroup namespace to use (host|private)')
    .option('-m, --memory <bytes>', 'memory limit')
    .option('--memory-swap <bytes>', "swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--memory-reservation <bytes>', 'memory soft limit')
    .option('--cpus <n>', 'number of CPUs')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpuset-cpus <cpus>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--pids-limit <n>', 'tune container pids limit')
    .option('--oom-kill-disable', 'disable OOM Killer')
    .option('--cap-add <cap>', 'add Linux capabilities', collect, [])
    .option('--cap-drop <cap>', 'drop Linux capabilities', collect, [])
    .option('--privileged', 'give extended privileges to this container')
    .option('--security-opt <opt>', 'security options', collect, [])
    .option('--read-only', "mount the container's root filesystem as read only")
    .option('--tmpfs <mount>', 'mount a tmpfs directory', collect, [])
    .option('--shm-size <bytes>', 'size of /dev/shm')
    .option('--device <device>', 'add a host device to the container', collect, [])
    .option('--sysctl <sysctl>', 'sysctl options', collect, [])
    .option('--ulimit <ulimit>', 'ulimit options', collect, [])
    .option('--restart <policy>', 'restart policy to apply when a container exits', undefined)
    .option('--stop-signal <signal>', 'signal to stop the container')
    .option('--stop-timeout <seconds>', 'timeout (in seconds) to stop a container')
    .option('-l, --label <label>', 'set meta data on a container', collect, [])
    .option('--log-opt <opt>', 'log driver options', collect, [])
    .option('--runtime <runtime>', 'runtime to use for this container')
    .option('--add-host <host:ip>', 'add a custom host-to-IP mapping', collect, [])
    .option('--dns <ip>', 'set custom DNS servers', collect, [])
    .option('--dns-search <domain>', 'set custom DNS search domains', collect, [])
    .option('--dns-option <option>', 'set DNS options', collect, [])
    .option('-p, --publish <ports>', "publish a container's port(s) to the host", collect, [])
    .option('-P, --publish-all', 'publish all exposed ports to random ports')
    .option('--expose <port>', 'expose a port or a range of ports', collect, [])
    .option('-v, --volume <volume>', 'bind mount a volume', collect, [])
    .option('--mount <mount>', 'attach a filesystem mount to the container', collect, [])
    .option('--volumes-from <container>', 'mount volumes from the specified container(s)', collect, [])
    .option('--link <container>', 'add link to another container', collect, [])
    .option('--network-alias <alias>', 'add network-scoped alias for the container', collect, [])
    .option('--health-cmd <cmd>', 'command to run to check health')
    .option('--health-interval <duration>', 'time between running the check (ms|s|m|h)')
    .option('--health-timeout <duration>', 'maximum time to allow one check to run (ms|s|m|h)')
    .option('--health-retries <n>', 'consecutive failures needed to report unhealthy')
    .option('--health-start-period <duration>', 'start period for the container to initialize before counting retries')
    .option('--no-healthcheck', 'disable any container-specified HEALTHCHECK');

export function registerContainerCommands(program: Command): void {
  const container = program.command('container').description('Manage containers');
  const both = (name: string, build: (c: Command) => void): void => topAndGroup(program, container, name, name, build);

  both('run', (c) =>
    runOptions(
      c
        .description('Create and run a new container from an image')
        .argument('<image>')
        .argument('[command...]')
        .passThroughOptions(),
    ).action(
      action(async (image: string, args: string[], o: RunOpts, cmd: Command) => runContainer(cmd, image, args, o)),
    ),
  );
  both('create', (c) =>
    runOptions(
      c.description('Create a new container').argument('<image>').argument('[command...]').passThroughOptions(),
    ).action(
      action(async (image: string, args: string[], o: RunOpts, cmd: Command) => {
        process.stdout.write(`${await createContainer(clientOf(cmd), image, args, { ...o, detach: true })}\n`);
      }),
    ),
  );
  both('start', (c) =>
    c
      .description('Start one or more stopped containers')
      .argument('<containers...>')
      .option('-a, --attach', 'attach STDOUT/STDERR and forward signals')
      .option('-i, --interactive', "attach container's STDIN")
      .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
      .action(
        action(
          async (
            names: string[],
            o: { attach?: boolean; interactive?: boolean; detachKeys?: string },
            cmd: Command,
          ) => {
            const client = clientOf(cmd);
            if (o.attach || o.interactive) {
              await attachSession(client, names[0]!, {
                interactive: !!o.interactive,
                detachKeys: o.detachKeys,
                start: true,
              });
              return;
            }
            if (await forEachName(names, (n) => client.call('POST', `/containers/${encodeURIComponent(n)}/start`))) {
              process.stderr.write('Error: failed to start containers: ' + names.join(', ') + '\n');
            }
          },
        ),
      ),
  );
  const each = (
    name: string,
    desc: string,
    build: (c: Command) => Command,
    call: (client: ApiClient, n: string, o: Record<string, string | boolean | undefined>) => Promise<unknown>,
  ): void =>
    both(name, (c) =>
      build(c.description(desc).argument('<containers...>')).action(
        action(async (names: string[], o: Record<string, string | boolean | undefined>, cmd: Command) => {
          const client = clientOf(cmd);
          await forEachName(names, (n) => call(client, n, o));
        }),
      ),
    );
  each(
    'stop',
    'Stop one or more running containers',
    (c) =>
      c
        .option('-t, --time <seconds>', 'seconds to wait before killing the container')
        .option('-s, --signal <signal>', 'signal to send'),
    (cl, n, o) =>
      cl.call('POST', `/containers/${encodeURIComponent(n)}/stop`, {
        query: { t: o.time as string | undefined, signal: o.signal as string | undefined },
      }),
  );
  each(
    'restart',
    'Restart one or more containers',
    (c) => c.option('-t, --time <seconds>', 'seconds to wait before killing the container'),
    (cl, n, o) =>
      cl.call('POST', `/containers/${encodeURIComponent(n)}/restart`, { query: { t: o.time as string | undefined } }),
  );
  each(
    'kill',
    'Kill one or more running containers',
    (c) => c.option('-s, --signal <signal>', 'signal to send to the container', 'KILL'),
    (cl, n, o) =>
      cl.call('POST', `/containers/${encodeURIComponent(n)}/kill`, { query: { signal: o.signal as string } }),
  );
  each(
    'pause',
    'Pause all processes within one or more containers',
    (c) => c,
    (cl, n) => cl.call('POST', `/containers/${encodeURIComponent(n)}/pause`),
  );
  each(
    'unpause',
    'Unpause all processes within one or more containers',
    (c) => c,
    (cl, n) => cl.call('POST', `/containers/${encodeURIComponent(n)}/unpause`),
  );
  const rm = (c: Command): void => {
    c.description('Remove one or more containers')
      .argument('<containers...>')
      .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
      .option('-v, --volumes', 'remove anonymous volumes associated with the container')
      .action(
        action(async (names: string[], o: { force?: boolean; volumes?: boolean }, cmd: Command) => {
          const client = clientOf(cmd);
          await forEachName(names, (n) =>
            client.call('DELETE', `/containers/${encodeURIComponent(n)}`, {
              query: { force: o.force ? 1 : undefined, v: o.volumes ? 1 : undefined },
            }),
          );
        }),
      );
  };
  topAndGroup(program, container, 'rm', 'rm', rm);
  const psCmd = (c: Command): void => {
    c.description('List containers')
      .option('-a, --all', 'show all containers (default shows just running)')
      .option('-q, --quiet', 'only display container IDs')
      .option('-l, --latest', 'show the latest created container (includes all states)')
      .option('-n, --last <n>', 'show n last created containers (includes all states)')
      .option('-s, --size', 'display total file sizes')
      .option('--no-trunc', "don't truncate output")
      .option('-f, --filter <filter>', 'filter output based on conditions provided', collect, [])
      .option('--format <format>', 'format output using a Go template')
      .action(action(async (o: Parameters<typeof ps>[1], cmd: Command) => ps(cmd, o)));
  };
  topAndGroup(program, container, 'ps', 'ls', psCmd, 'list');
  both('logs', (c) =>
    c
      .description('Fetch the logs of a container')
      .argument('<container>')
      .option('-f, --follow', 'follow log output')
      .option('-t, --timestamps', 'show timestamps')
      .option('-n, --tail <n>', 'number of lines to show from the end of the logs', 'all')
      .option('--since <time>', 'show logs since timestamp or relative (e.g. 42m)')
      .option('--until <time>', 'show logs before a timestamp or relative')
      .action(action(async (n: string, o: Parameters<typeof logs>[2], cmd: Command) => logs(cmd, n, o))),
  );
  both('exec', (c) =>
    c
      .description('Execute a command in a running container')
      .argument('<container>')
      .argument('<command...>')
      .passThroughOptions()
      .option('-i, --interactive', 'keep STDIN open even if not attached')
      .option('-t, --tty', 'allocate a pseudo-TTY')
      .option('-d, --detach', 'run command in the background')
      .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
      .option('-u, --user <user>', 'username or UID')
      .option('-w, --workdir <dir>', 'working directory inside the container')
      .option('-e, --env <env>', 'set environment variables', collect, [])
      .option('--privileged', 'give extended privileges to the command')
      .action(
        action(async (n: string, args: string[], o: Parameters<typeof execCommand>[3], cmd: Command) =>
          execCommand(cmd, n, args, o),
        ),
      ),
  );
  both('attach', (c) =>
    c
      .description('Attach local standard input, output, and error streams to a running container')
      .argument('<container>')
      .option('--no-stdin', 'do not attach STDIN')
      .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
      .action(
        action(async (ref: string, o: { stdin: boolean; detachKeys?: string }, cmd: Command) => {
          const client = clientOf(cmd);
          const info = await client.json<{ State: { Running: boolean }; Config: { OpenStdin: boolean } }>(
            'GET',
            `/containers/${encodeURIComponent(ref)}/json`,
          );
          if (!info.State.Running) throw new Error('You cannot attach to a stopped container, start it first');
          await attachSession(client, ref, {
            interactive: info.Config.OpenStdin,
            noStdin: !o.stdin,
            detachKeys: o.detachKeys,
            start: false,
          });
        }),
      ),
  );
  both('wait', (c) =>
    c
      .description('Block until one or more containers stop, then print their exit codes')
      .argument('<containers...>')
      .action(
        action(async (names: string[], _o: unknown, cmd: Command) => {
          const client = clientOf(cmd);
          for (const n of names)
            process.stdout.write(
              `${(await client.json<{ StatusCode: number }>('POST', `/containers/${encodeURIComponent(n)}/wait`)).StatusCode}\n`,
            );
        }),
      ),
  );
  both('rename', (c) =>
    c
      .description('Rename a container')
      .argument('<container>')
      .argument('<new-name>')
      .action(
        action(
          async (n: string, name: string, _o: unknown, cmd: Command) =>
            void (await clientOf(cmd).call('POST', `/containers/${encodeURIComponent(n)}/rename`, { query: { name } })),
        ),
      ),
  );
  both('top', (c) =>
    c
      .description('Display the running processes of a container')
      .argument('<container>')
      .action(
        action(async (n: string, _o: unknown, cmd: Command) => {
          const t = await clientOf(cmd).json<{ Titles: string[]; Processes: string[][] }>(
            'GET',
            `/containers/${encodeURIComponent(n)}/top`,
          );
          process.stdout.write(tabwrite([t.Titles.join('\t'), ...t.Processes.map((p) => p.join('\t'))]) + '\n');
        }),
      ),
  );
  container
    .command('prune')
    .description('Remove all stopped containers')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const res = await clientOf(cmd).json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>(
          'POST',
          '/containers/prune',
        );
        if (res.ContainersDeleted?.length)
          process.stdout.write(`Deleted Containers:\n${res.ContainersDeleted.join('\n')}\n\n`);
        process.stdout.write(`Total reclaimed space: ${humanSize(res.SpaceReclaimed)}\n`);
      }),
    );
  container
    .command('inspect')
    .description('Display detailed information on one or more containers')
    .argument('<containers...>')
    .option('-f, --format <format>', 'format output using a Go template')
    .action(
      action(async (names: string[], o: { format?: string }, cmd: Command) => {
        const client = clientOf(cmd);
        await inspectEach(names, (n) => client.json('GET', `/containers/${encodeURIComponent(n)}/json`), o.format);
      }),
    );
}
