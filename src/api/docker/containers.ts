/** Container routes: /containers/... over the engine's container service (attach and exec streams: streams.ts). */
import { userRegex } from '../../common/regex.js';
import { GantryError, invalid, notFound } from '../../common/errors.js';
import type { ContainerConfig, ContainerRecord } from '../../containers/types.js';
import { pipeline } from 'node:stream/promises';
import { labelsMatch } from '../../common/labels.js';
import type { Engine } from '../../engine/engine.js';
import type { CreateRequest } from '../../engine/containers/types.js';
import { streamLogs, type LogEntry } from '../../engine/logs.js';
import { humanDurationSince } from '../../common/time.js';
import { endpointView } from '../../network/types.js';
import { boolParam, checkFilters, parseFilters, readJsonBody, sendJson, sendNoContent, type Router } from './router.js';
import * as schema from './schema/types.js';

/** Docker's stream multiplexing header: [stream, 0, 0, 0, size (big endian)]. */
export function frame(stream: 0 | 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

function statusText(c: ContainerRecord): string {
  const s = c.State;
  if (s.Status === 'created') return 'Created';
  if (s.Restarting) return `Restarting (${s.ExitCode}) ${humanDurationSince(s.FinishedAt)} ago`;
  if (s.Running) {
    let t = `Up ${humanDurationSince(s.StartedAt)}`;
    if (s.Paused) t += ' (Paused)';
    if (s.Health) t += ` (${s.Health.Status === 'starting' ? 'health: starting' : s.Health.Status})`;
    return t;
  }
  if (s.Status === 'dead') return 'Dead';
  if (s.FinishedAt.startsWith('0001')) return 'Created';
  return `Exited (${s.ExitCode}) ${humanDurationSince(s.FinishedAt)} ago`;
}

function command(c: ContainerRecord): string {
  return [c.Path, ...c.Args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ');
}

/** `Mounts` as inspect and ps show them (without the engine's own bookkeeping). */
function mountsView(c: ContainerRecord): Array<Record<string, unknown>> {
  return (c.Mounts ?? []).map(({ copyUp: _c, tmpfsOptions: _t, ...m }) => m);
}

/** A `publish`/`expose` filter value (`80`, `80/tcp`, `8000-8080/tcp`) against one port. */
function portMatches(filter: string, port: number, proto: string): boolean {
  const [range = '', p = 'tcp'] = filter.split('/');
  const [lo, hi = lo] = range.split('-').map(Number);
  return p === proto && port >= lo! && port <= hi!;
}

/** The PORTS of `ps`: published ports with their host side, exposed ones without. */
function portsList(c: ContainerRecord): Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> {
  if (!c.State.Running) return [];
  const out: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }> = [];
  for (const [key, bindings] of Object.entries(c.NetworkSettings?.Ports ?? {})) {
    const [port, type = 'tcp'] = key.split('/');
    if (!bindings?.length) out.push({ PrivatePort: Number(port), Type: type });
    for (const b of bindings ?? [])
      out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}

/** A container's endpoints as the API shows them. */
function networksView(c: ContainerRecord): Record<string, ReturnType<typeof endpointView>> {
  return Object.fromEntries(Object.entries(c.NetworkSettings?.Networks ?? {}).map(([n, ep]) => [n, endpointView(ep)]));
}

export function registerContainerRoutes(r: Router, engine: Engine): void {
  const containers = engine.containers;

  const sizes = async (c: ContainerRecord): Promise<{ SizeRw: number; SizeRootFs: number }> => {
    const rw = await containers.sizeRw(c.Id);
    const image = engine.images.tryResolve(c.Image);
    return { SizeRw: rw, SizeRootFs: rw + (image ? await engine.images.size(image) : 0) };
  };

  const summary = async (c: ContainerRecord, size: boolean): Promise<Record<string, unknown>> => ({
    Id: c.Id,
    Names: [c.Name],
    Image: c.Config.Image,
    ImageID: c.Image,
    Command: command(c),
    Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: portsList(c),
    ...(size ? await sizes(c) : {}),
    Labels: c.Config.Labels ?? {},
    State: c.State.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode ?? 'default' },
    NetworkSettings: { Networks: networksView(c) },
    Mounts: mountsView(c),
  });

  const inspect = async (c: ContainerRecord, size: boolean): Promise<Record<string, unknown>> => {
    const { chainId: _chain, runtime: _rt, manuallyStopped: _ms, netState, ...pub } = c;
    const dirs = engine.snapshots.activeDirs(c.Id);
    const lower = await engine.snapshots.lowerDirs(c.chainId).catch(() => [] as string[]);
    // The top-level address fields are those of the default bridge network, as in Docker.
    const bridge = c.NetworkSettings?.Networks.bridge;
    return {
      ...pub,
      ExecIDs: null,
      GraphDriver: {
        Name: 'overlay2',
        Data: { LowerDir: lower.join(':'), MergedDir: dirs.merged, UpperDir: dirs.upper, WorkDir: dirs.work },
      },
      ...(size ? { SizeRw: await containers.sizeRw(c.Id) } : {}),
      Mounts: mountsView(c),
      NetworkSettings: {
        Bridge: '',
        SandboxID: netState ? c.Id : '',
        SandboxKey: netState?.netns ?? '',
        Ports: c.State.Running ? (c.NetworkSettings?.Ports ?? {}) : {},
        HairpinMode: false,
        LinkLocalIPv6Address: '',
        LinkLocalIPv6PrefixLen: 0,
        SecondaryIPAddresses: null,
        SecondaryIPv6Addresses: null,
        EndpointID: bridge?.EndpointID ?? '',
        Gateway: bridge?.Gateway ?? '',
        GlobalIPv6Address: '',
        GlobalIPv6PrefixLen: 0,
        IPAddress: bridge?.IPAddress ?? '',
        IPPrefixLen: bridge?.IPPrefixLen ?? 0,
        IPv6Gateway: '',
        MacAddress: bridge?.MacAddress ?? '',
        Networks: networksView(c),
      },
    };
  };

  r.add('POST', '/containers/create', async ({ req, res, query }) => {
    const body = await readJsonBody<CreateRequest>(req, schema.createRequest);
    if (!body) throw invalid('Config cannot be empty in order to create a container');
    const platform = query.get('platform');
    if (platform && !/^linux(\/amd64)?$/.test(platform))
      throw invalid(`image with platform ${platform} is not supported on this host`);
    sendJson(res, 201, await containers.create(body, query.get('name') || undefined));
  });

  r.add('GET', '/containers/json', async ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, [
      'status',
      'name',
      'id',
      'label',
      'ancestor',
      'exited',
      'before',
      'since',
      'health',
      'network',
      'volume',
      'publish',
      'expose',
      'isolation',
      'is-task',
    ]);
    const all = boolParam(query, 'all');
    const limit = Number(query.get('limit') ?? -1);
    let list = containers.sorted();
    const before = filters.before?.[0] ? containers.resolve(filters.before[0]) : undefined;
    const since = filters.since?.[0] ? containers.resolve(filters.since[0]) : undefined;
    const nameMatchers = (filters.name ?? []).map((n) => userRegex(n, 'name filter'));
    list = list.filter((c) => {
      if (!all && !c.State.Running && limit <= 0 && !filters.status && !filters.exited) return false;
      if (filters.status && !filters.status.includes(c.State.Status)) return false;
      if (
        filters.exited &&
        (c.State.Running || !filters.exited.includes(String(c.State.ExitCode)) || c.State.Status !== 'exited')
      )
        return false;
      if (nameMatchers.length && !nameMatchers.some((m) => m(c.Name.slice(1)) || m(c.Name))) return false;
      if (filters.id && !filters.id.some((i) => c.Id.startsWith(i))) return false;
      if (filters.label && !labelsMatch(c.Config.Labels, filters.label)) return false;
      if (
        filters.ancestor &&
        !filters.ancestor.some((a) => c.Config.Image === a || engine.images.tryResolve(a)?.id === c.Image)
      )
        return false;
      if (
        filters.network &&
        !filters.network.some((n) =>
          Object.entries(c.NetworkSettings?.Networks ?? {}).some(
            ([name, ep]) => name === n || ep.NetworkID.startsWith(n),
          ),
        )
      )
        return false;
      if (
        filters.volume &&
        !filters.volume.some((v) => c.Mounts?.some((m) => m.Name === v || m.Destination === v || m.Source === v))
      )
        return false;
      if (
        filters.publish &&
        !filters.publish.some((p) =>
          portsList(c).some((x) => x.PublicPort !== undefined && portMatches(p, x.PublicPort, x.Type)),
        )
      )
        return false;
      if (
        filters.expose &&
        !filters.expose.some((p) =>
          Object.keys(c.Config.ExposedPorts ?? {}).some((k) =>
            portMatches(p, Number(k.split('/')[0]), k.split('/')[1] ?? 'tcp'),
          ),
        )
      )
        return false;
      if (before && Date.parse(c.Created) >= Date.parse(before.Created)) return false;
      if (since && Date.parse(c.Created) <= Date.parse(since.Created)) return false;
      return true;
    });
    if (limit > 0) list = list.slice(0, limit);
    const size = boolParam(query, 'size');
    sendJson(res, 200, await Promise.all(list.map((c) => summary(c, size))));
  });

  r.add('POST', '/containers/prune', async ({ req, res, query }) => {
    req.resume();
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['until', 'label', 'label!']);
    const until = filters.until?.[0];
    sendJson(
      res,
      200,
      await containers.prune(until ? (/^\d+$/.test(until) ? Number(until) * 1000 : Date.parse(until)) : undefined),
    );
  });

  r.add('GET', '/containers/{id}/json', async ({ res, params, query }) => {
    sendJson(res, 200, await inspect(containers.resolve(params[0]!), boolParam(query, 'size')));
  });

  r.add('POST', '/containers/{id}/start', async ({ req, res, params }) => {
    req.resume();
    const c = containers.resolve(params[0]!);
    if (c.State.Running && !c.State.Paused) return sendNoContent(res, 304);
    await containers.start(c.Id);
    sendNoContent(res);
  });

  r.add('POST', '/containers/{id}/stop', async ({ req, res, params, query }) => {
    req.resume();
    const t = query.get('t');
    const stopped = await containers.stop(
      params[0]!,
      t !== null && t !== '' ? Number(t) : undefined,
      query.get('signal') || undefined,
    );
    sendNoContent(res, stopped ? 204 : 304);
  });

  r.add('POST', '/containers/{id}/restart', async ({ req, res, params, query }) => {
    req.resume();
    const t = query.get('t');
    await containers.restart(
      params[0]!,
      t !== null && t !== '' ? Number(t) : undefined,
      query.get('signal') || undefined,
    );
    sendNoContent(res);
  });

  r.add('POST', '/containers/{id}/kill', async ({ req, res, params, query }) => {
    req.resume();
    await containers.kill(params[0]!, query.get('signal') || 'SIGKILL');
    sendNoContent(res);
  });

  r.add('POST', '/containers/{id}/pause', async ({ req, res, params }) => {
    req.resume();
    await containers.pause(params[0]!);
    sendNoContent(res);
  });

  r.add('POST', '/containers/{id}/unpause', async ({ req, res, params }) => {
    req.resume();
    await containers.unpause(params[0]!);
    sendNoContent(res);
  });

  r.add('POST', '/containers/{id}/rename', async ({ req, res, params, query }) => {
    req.resume();
    const name = query.get('name');
    if (!name) throw invalid('name is required');
    await containers.rename(params[0]!, name);
    sendNoContent(res);
  });

  r.add('POST', '/containers/{id}/update', async ({ req, res, params }) => {
    const body = (await readJsonBody<Record<string, unknown>>(req, schema.updateConfig)) ?? {};
    sendJson(res, 200, { Warnings: await containers.update(params[0]!, body) });
  });

  r.add('POST', '/containers/{id}/resize', async ({ req, res, params, query }) => {
    req.resume();
    await containers.resize(params[0]!, Number(query.get('h') ?? 0), Number(query.get('w') ?? 0));
    sendNoContent(res, 200);
  });

  r.add('GET', '/containers/{id}/top', async ({ res, params }) => {
    sendJson(res, 200, await containers.top(params[0]!));
  });

  r.add('DELETE', '/containers/{id}', async ({ res, params, query }) => {
    if (boolParam(query, 'link')) await containers.removeLink(params[0]!);
    else await containers.remove(params[0]!, { force: boolParam(query, 'force'), volumes: boolParam(query, 'v') });
    sendNoContent(res);
  });

  // A link's name (`parent/alias`) names its target, as in moby's name registry.
  r.add('DELETE', '/containers/{id}/{alias}', async ({ res, params, query }) => {
    const ref = `${params[0]!}/${params[1]!}`;
    if (boolParam(query, 'link')) await containers.removeLink(ref);
    else {
      const link = containers.linkTarget(ref);
      if (!link) throw notFound(`No such container: ${ref}`);
      await containers.remove(link.target.Id, { force: boolParam(query, 'force'), volumes: boolParam(query, 'v') });
    }
    sendNoContent(res);
  });

  r.add('POST', '/containers/{id}/wait', async ({ req, res, params, query }) => {
    req.resume();
    const condition = (query.get('condition') || 'not-running') as 'not-running' | 'next-exit' | 'removed';
    if (!['not-running', 'next-exit', 'removed'].includes(condition))
      throw invalid(`invalid condition: "${condition}"`);
    const c = containers.resolve(params[0]!);
    const pending = containers.wait(c.Id, condition);
    // Headers go out at once: the docker CLI waits for them before starting the container.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const result = await pending;
    res.end(JSON.stringify(result) + '\n');
  });

  r.add('GET', '/containers/{id}/logs', async ({ req, res, params, query }) => {
    const c = containers.resolve(params[0]!);
    if (c.HostConfig.LogConfig?.Type === 'none')
      throw new GantryError('notImplemented', 'configured logging driver does not support reading');
    const stdout = boolParam(query, 'stdout');
    const stderr = boolParam(query, 'stderr');
    if (!stdout && !stderr) throw invalid('You must choose at least one stream');
    const tty = !!c.Config.Tty;
    const toNs = (v: string | null): bigint | undefined => {
      if (!v || v === '0') return undefined;
      const [s, frac = ''] = v.split('.');
      return BigInt(s!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9) || '0');
    };
    const tailParam = query.get('tail');
    const follow = boolParam(query, 'follow');
    res.writeHead(200, {
      'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream',
    });
    res.flushHeaders();
    const abort = new AbortController();
    req.on('close', () => abort.abort());
    const timestamps = boolParam(query, 'timestamps');
    const emit = (e: LogEntry): void => {
      const data = timestamps ? Buffer.concat([Buffer.from(`${e.timestamp} `), e.data]) : e.data;
      res.write(tty ? data : frame(e.stream === 'stdout' ? 1 : 2, data));
    };
    const done = c.State.Running ? containers.wait(c.Id, 'next-exit') : Promise.resolve();
    await streamLogs(
      c.LogPath,
      {
        stdout,
        stderr,
        sinceNs: toNs(query.get('since')),
        untilNs: toNs(query.get('until')),
        tail: tailParam && tailParam !== 'all' ? Number(tailParam) : undefined,
        follow: follow && c.State.Running,
      },
      emit,
      done,
      abort.signal,
    );
    res.end();
  });

  const statHeader = (stat: unknown): string => Buffer.from(JSON.stringify(stat)).toString('base64');

  r.add('HEAD', '/containers/{id}/archive', async ({ res, params, query }) => {
    const p = query.get('path');
    if (!p) throw invalid('path is required');
    const stat = await containers.archiveStat(params[0]!, p);
    res.writeHead(200, { 'X-Docker-Container-Path-Stat': statHeader(stat) });
    res.end();
  });

  r.add('GET', '/containers/{id}/archive', async ({ res, params, query }) => {
    const p = query.get('path');
    if (!p) throw invalid('path is required');
    const { stat, tar } = await containers.archiveGet(params[0]!, p);
    res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': statHeader(stat) });
    await pipeline(tar, res).catch((err: unknown) => res.destroy(err as Error));
  });

  r.add('PUT', '/containers/{id}/archive', async ({ req, res, params, query }) => {
    const p = query.get('path');
    if (!p) throw invalid('path is required');
    await containers.archivePut(params[0]!, p, req, {
      copyUIDGID: boolParam(query, 'copyUIDGID'),
      noOverwriteDirNonDir: boolParam(query, 'noOverwriteDirNonDir'),
    });
    res.writeHead(200);
    res.end();
  });

  r.add('GET', '/containers/{id}/changes', async ({ res, params }) => {
    const list = await containers.changes(params[0]!);
    sendJson(res, 200, list.length ? list : null);
  });

  r.add('GET', '/containers/{id}/export', async ({ res, params }) => {
    const tar = await containers.export(params[0]!);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await pipeline(tar, res).catch((err: unknown) => res.destroy(err as Error));
  });

  r.add('POST', '/commit', async ({ req, res, query }) => {
    const body = await readJsonBody<ContainerConfig>(req, schema.containerConfig);
    const container = query.get('container');
    if (!container) throw invalid('container is required');
    const id = await containers.commit(container, {
      repo: query.get('repo') || undefined,
      tag: query.get('tag') || undefined,
      comment: query.get('comment') || undefined,
      author: query.get('author') || undefined,
      changes: query
        .getAll('changes')
        .flatMap((c) => c.split('\n'))
        .filter(Boolean),
      pause: query.get('pause') === null ? true : boolParam(query, 'pause'),
      config: body ?? undefined,
    });
    sendJson(res, 201, { Id: id });
  });

  r.add('GET', '/containers/{id}/stats', async ({ req, res, params, query }) => {
    const c = containers.resolve(params[0]!);
    const stream = query.get('stream') === null ? true : boolParam(query, 'stream');
    const oneShot = boolParam(query, 'one-shot');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    let prev = await containers.statsSample(c.Id);
    if (!stream && oneShot) {
      res.end(JSON.stringify({ ...prev, precpu_stats: {}, preread: '0001-01-01T00:00:00Z' }) + '\n');
      return;
    }
    let closed = false;
    req.on('close', () => (closed = true));
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      if (closed) return;
      const cur = await containers.statsSample(c.Id);
      const out = { ...cur, preread: prev.read, precpu_stats: prev.cpu_stats };
      prev = cur;
      if (!stream) {
        res.end(JSON.stringify(out) + '\n');
        return;
      }
      res.write(JSON.stringify(out) + '\n');
      if (!containers.resolve(c.Id).State.Running) {
        res.end();
        return;
      }
    }
  });
}
