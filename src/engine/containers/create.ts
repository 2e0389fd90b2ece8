/** Create: the image's config merged with the request as Docker merges it, validated, a writable root prepared and the record saved. */
import path from 'node:path';
import { chainIds } from '../../common/digest.js';
import { invalid, notFound } from '../../common/errors.js';
import { emptyState, type ContainerConfig, type ContainerRecord, type HostConfig } from '../../containers/types.js';
import { parseWithDefaultTag, familiarString } from '../../images/reference.js';
import { resolveMounts, type MountRequest } from '../../volumes/mounts.js';
import { validateCreate } from '../../containers/validate.js';
import type { ContainerService } from './service.js';
import type { CreateRequest } from './types.js';
import type { EndpointRequest } from '../../network/ipam.js';
import { mergeImageEnv } from './util.js';
import { crashPoint } from '../../common/faults.js';

export const createMethods = {
  async create(
    this: ContainerService,
    body: CreateRequest,
    requestedName: string | undefined,
  ): Promise<{ Id: string; Warnings: string[] }> {
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
    // An empty driver is the default one, as in Docker.
    if (!hc.LogConfig?.Type) hc.LogConfig = { Type: 'json-file', Config: hc.LogConfig?.Config ?? {} };
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
    const env = mergeImageEnv(imgCfg.Env ?? [], body.Env ?? []);
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
    const networks = this.d.networks.initialEndpoints(hc.NetworkMode, endpointsWithMac(body));
    if (hc.Links?.length && hc.NetworkMode === 'host')
      throw invalid(
        "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
      );
    if (hc.Links?.length && hc.NetworkMode?.startsWith('container:'))
      throw invalid(
        "conflicting options: container type network can't be used with links. This would result in undefined behavior",
      );
    if (networks.bridge) hc.Links = this.normalizeLinks(hc.Links ?? [], name) ?? null;
    else {
      // On a user-defined network a link is a name only this container resolves (moby keeps no legacy link).
      const [ep] = Object.values(networks);
      if (ep && hc.Links?.length && !ep.Links?.length) ep.Links = hc.Links;
      hc.Links = null;
    }
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
    crashPoint('create:prepared');
    await this.d.store.save(rec);
    crashPoint('create:saved');
    this.d.events.publish('container', 'create', id, this.eventAttrs(rec));
    return { Id: id, Warnings: warnings };
  },

  /** Docker stores links as `/<target name>:/<container name>/<alias>`; targets must exist. */
  normalizeLinks(this: ContainerService, links: string[], name: string): string[] | undefined {
    if (!links.length) return undefined;
    return links.map((l) => {
      const [target = '', alias = target] = l.split(':');
      const t = this.d.store.get(target) ?? this.d.store.list().find((c) => c.Name === `/${target.replace(/^\//, '')}`);
      if (!t) throw invalid(`could not get container for ${target}: No such container: ${target}`);
      return `${t.Name}:${name}/${alias.split('/').pop()}`;
    });
  },
};

/**
 * The create request's endpoint configs, with the deprecated container-wide MacAddress moved to the
 * network mode's endpoint when that one names none (as moby does for older API versions).
 */
function endpointsWithMac(body: CreateRequest): Record<string, EndpointRequest & { Links?: string[] | null }> {
  const configs = { ...(body.NetworkingConfig?.EndpointsConfig ?? {}) };
  if (!body.MacAddress) return configs;
  const mode =
    !body.HostConfig?.NetworkMode || body.HostConfig.NetworkMode === 'default' ? 'bridge' : body.HostConfig.NetworkMode;
  const ep = configs[mode];
  if (ep?.MacAddress && ep.MacAddress !== body.MacAddress)
    throw invalid(
      'the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty',
    );
  configs[mode] = { ...ep, MacAddress: body.MacAddress };
  return configs;
}
