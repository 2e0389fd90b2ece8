/** System routes: ping, version, info, events, auth, disk usage. */
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { errorMessage, GantryError } from '../../common/errors.js';
import type { Engine } from '../../engine/engine.js';
import { EVENT_FILTERS, matchesFilters, type EngineEvent } from '../../engine/events.js';
import type { AuthConfig } from '../../registry/auth.js';
import { DEFAULT_DOMAIN } from '../../images/reference.js';
import {
  API_VERSION,
  MIN_API_VERSION,
  checkFilters,
  parseFilters,
  readJsonBody,
  sendJson,
  type Router,
} from './router.js';
import * as schema from './schema/types.js';
import { osName } from '../../common/osinfo.js';
import { GANTRY_VERSION } from '../../version.js';

function pingHeaders(): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    Ostype: 'linux',
    'Builder-Version': '1',
    'Docker-Experimental': 'false',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
  };
}

function cgroupVersion(): string {
  try {
    readFileSync('/sys/fs/cgroup/cgroup.controllers');
    return '2';
  } catch {
    return '1';
  }
}

/** Parse a `since`/`until` value: unix seconds (fractional allowed) or RFC 3339. */
function parseTime(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new GantryError('invalid', `invalid time value: ${v}`);
  return t / 1000;
}

/** Where a login's serveraddress points: `https://index.docker.io/v1/` means Docker Hub. */
export function registryDomainOf(serveraddress: string | undefined): string {
  if (!serveraddress) return DEFAULT_DOMAIN;
  const s = serveraddress.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === 'docker.io') return DEFAULT_DOMAIN;
  return s;
}

export function registerSystemRoutes(r: Router, engine: Engine): void {
  r.add('GET', '/_ping', ({ res, req }) => {
    res.writeHead(200, { ...pingHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2 });
    res.end(req.method === 'HEAD' ? undefined : 'OK');
  });
  r.add('HEAD', '/_ping', ({ res }) => {
    res.writeHead(200, { ...pingHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0 });
    res.end();
  });

  r.add('GET', '/version', ({ res }) => {
    const common = {
      Version: GANTRY_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: 'gantry',
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: 'amd64',
      KernelVersion: os.release(),
      BuildTime: '2026-11-23T00:00:00.000000000+00:00',
    };
    sendJson(res, 200, {
      Platform: { Name: 'Gantry Engine' },
      Components: [{ Name: 'Engine', Version: GANTRY_VERSION, Details: { ...common, Experimental: 'false' } }],
      ...common,
    });
  });

  r.add('GET', '/info', ({ res }) => {
    const images = engine.images.imageCount();
    const states = engine.containers.list().map((c) => c.State);
    const paused = states.filter((s) => s.Paused).length;
    const running = states.filter((s) => s.Running).length - paused;
    sendJson(res, 200, {
      ID: engine.id,
      Containers: states.length,
      ContainersRunning: running,
      ContainersPaused: paused,
      ContainersStopped: states.length - running - paused,
      Images: images,
      Driver: 'overlay2',
      DriverStatus: [
        ['Backing Filesystem', 'extfs'],
        ['Supports d_type', 'true'],
        ['Using metacopy', 'false'],
        ['Native Overlay Diff', 'true'],
      ],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file'] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      BridgeNfIptables: false,
      BridgeNfIp6tables: false,
      Debug: false,
      NFd: 0,
      OomKillDisable: true,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: cgroupVersion(),
      NEventsListener: 0,
      KernelVersion: os.release(),
      OperatingSystem: osName(),
      OSVersion: '',
      OSType: 'linux',
      Architecture: os.machine(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: null,
        AllowNondistributableArtifactsHostnames: null,
        InsecureRegistryCIDRs: ['127.0.0.0/8', ...engine.config.insecureRegistries.filter((x) => x.includes('/'))],
        IndexConfigs: {
          'docker.io': { Name: 'docker.io', Mirrors: engine.config.registryMirrors, Secure: true, Official: true },
          ...Object.fromEntries(
            engine.config.insecureRegistries
              .filter((x) => !x.includes('/'))
              .map((h) => [h, { Name: h, Mirrors: [], Secure: false, Official: false }]),
          ),
        },
        Mirrors: engine.config.registryMirrors,
      },
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      GenericResources: null,
      DockerRootDir: engine.config.dataRoot,
      HttpProxy: process.env.HTTP_PROXY ?? '',
      HttpsProxy: process.env.HTTPS_PROXY ?? '',
      NoProxy: process.env.NO_PROXY ?? '',
      Name: os.hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: GANTRY_VERSION,
      Runtimes: {},
      DefaultRuntime: 'runc',
      Swarm: {
        NodeID: '',
        NodeAddr: '',
        LocalNodeState: 'inactive',
        ControlAvailable: false,
        Error: '',
        RemoteManagers: null,
      },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: 'tini',
      ContainerdCommit: { ID: '' },
      RuncCommit: { ID: '' },
      InitCommit: { ID: '' },
      SecurityOptions: ['name=seccomp,profile=builtin'],
      Warnings: null,
    });
  });

  r.add('GET', '/events', ({ req, res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, [...EVENT_FILTERS]);
    const since = parseTime(query.get('since'));
    const until = parseTime(query.get('until'));
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const write = (e: EngineEvent): void => {
      if (until !== undefined && e.timeNano / 1e9 > until) return;
      if (matchesFilters(e, filters)) res.write(JSON.stringify(e) + '\n');
    };
    if (since !== undefined) for (const e of engine.events.since(since)) write(e);
    const unsubscribe = engine.events.subscribe(write);
    let timer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      if (!res.writableEnded) res.end();
    };
    if (until !== undefined) timer = setTimeout(stop, Math.max(0, until * 1000 - Date.now()));
    req.on('close', stop);
  });

  r.add('POST', '/auth', async ({ req, res }) => {
    const auth = (await readJsonBody<AuthConfig>(req, schema.authConfig)) ?? {};
    const domain = registryDomainOf(auth.serveraddress);
    try {
      const session = await engine.registry.session(domain, 'gantry/login-check', auth, 'pull');
      await session.checkLogin();
    } catch (err) {
      throw new GantryError('unauthorized', `login attempt to ${domain}/v2/ failed with status: ${errorMessage(err)}`);
    }
    sendJson(res, 200, { Status: 'Login Succeeded', IdentityToken: '' });
  });

  r.add('GET', '/system/df', async ({ res }) => {
    const { LayersSize, Images } = await engine.images.df();
    const containers = await Promise.all(
      engine.containers.list().map(async (c) => ({
        Id: c.Id,
        Names: [c.Name],
        Image: c.Config.Image,
        ImageID: c.Image,
        Created: Math.floor(Date.parse(c.Created) / 1000),
        State: c.State.Status,
        SizeRw: await engine.containers.sizeRw(c.Id),
        Labels: c.Config.Labels ?? {},
      })),
    );
    const volumes = await Promise.all(
      engine.volumes.list().map(async (v) => ({
        ...v,
        UsageData: { Size: await engine.volumes.size(v.Name), RefCount: engine.volumes.usedByCount(v.Name) },
      })),
    );
    sendJson(res, 200, { LayersSize, Images, Containers: containers, Volumes: volumes, BuildCache: [] });
  });
}
