/**
 * Legacy links (`--link target:alias`) on the default bridge, as moby keeps them: stored in the parent's
 * HostConfig.Links as `/<target>:/<parent>/<alias>`; at start each target must be running, and its
 * address, exposed ports, name and environment reach the parent as `ALIAS_*` variables.
 */
import path from 'node:path';
import { GantryError, notFound } from '../../common/errors.js';
import type { ContainerRecord } from '../../containers/types.js';
import type { ContainerService } from './service.js';

interface Port {
  num: number;
  proto: string;
}

/** tcp before the other protocols, then by number (moby's withTCPPriority). */
function byTcpFirst(a: Port, b: Port): number {
  if (a.proto === b.proto) return a.num - b.num;
  if (a.proto === 'tcp') return -1;
  if (b.proto === 'tcp') return 1;
  return a.proto < b.proto ? -1 : 1;
}

/** The variables a link named `linkName` (`/<parent>/<alias>`) gives its parent (moby's Link.ToEnv). */
export function linkEnv(linkName: string, childIP: string, childEnv: string[], exposedPorts: string[]): string[] {
  const alias = path.posix.basename(linkName).toUpperCase().replaceAll('-', '_');
  const ports = exposedPorts
    .map((p) => {
      const [num = '', proto = 'tcp'] = p.split('/');
      return { num: Number(num), proto };
    })
    .filter((p) => Number.isInteger(p.num) && p.num > 0)
    .sort(byTcpFirst);
  const env: string[] = [];
  let start: Port | undefined;
  let end: Port | undefined;
  ports.forEach((p, i) => {
    if (i === 0) {
      start = end = p;
      env.push(`${alias}_PORT=${p.proto}://${childIP}:${p.num}`);
    }
    const prefix = `${alias}_PORT_${p.num}_${p.proto.toUpperCase()}`;
    env.push(
      `${prefix}=${p.proto}://${childIP}:${p.num}`,
      `${prefix}_ADDR=${childIP}`,
      `${prefix}_PORT=${p.num}`,
      `${prefix}_PROTO=${p.proto}`,
    );
    if (p.num === end!.num + 1 && p.proto === end!.proto) {
      end = p;
      if (i < ports.length - 1) return;
    }
    if (end !== start) {
      const first = `${alias}_PORT_${start!.num}_${start!.proto.toUpperCase()}`;
      env.push(
        `${first}_START=${start!.proto}://${childIP}:${start!.num}`,
        `${first}_PORT_START=${start!.num}`,
        `${first}_END=${end!.proto}://${childIP}:${end!.num}`,
        `${first}_PORT_END=${end!.num}`,
      );
    }
    start = end = p;
  });
  env.push(`${alias}_NAME=${linkName}`);
  for (const v of childEnv) {
    const eq = v.indexOf('=');
    if (eq < 0) continue;
    const name = v.slice(0, eq);
    // As moby: what a build sets for itself is of no use to the parent.
    if (name === 'HOME' || name === 'PATH') continue;
    env.push(`${alias}_ENV_${name}=${v.slice(eq + 1)}`);
  }
  return env;
}

export interface Link {
  target: ContainerRecord;
  /** `/<parent>/<alias>`. */
  name: string;
}

export const linkMethods = {
  /** The parent's links whose targets still exist. */
  links(this: ContainerService, rec: ContainerRecord): Link[] {
    const out: Link[] = [];
    for (const link of rec.HostConfig.Links ?? []) {
      const colon = link.indexOf(':');
      const target = this.d.store.byName(link.slice(0, colon));
      if (target) out.push({ target, name: link.slice(colon + 1) });
    }
    return out;
  },

  /** The link variables of a container about to start; a target that is not running fails the start as in moby. */
  linkEnvironment(this: ContainerService, rec: ContainerRecord): string[] {
    const env: string[] = [];
    for (const { target, name } of this.links(rec)) {
      if (!target.State.Running)
        throw new GantryError('internal', `Cannot link to a non running container: ${target.Name} AS ${name}`);
      const ip = target.NetworkSettings?.Networks.bridge?.IPAddress ?? '';
      env.push(...linkEnv(name, ip, target.Config.Env ?? [], Object.keys(target.Config.ExposedPorts ?? {})));
    }
    return env;
  },

  /** The container a link name (`parent/alias`) leads to, if `ref` is one. */
  linkTarget(
    this: ContainerService,
    ref: string,
  ): { parent: ContainerRecord; target: ContainerRecord; name: string } | undefined {
    const name = `/${ref.replace(/^\/+/, '')}`;
    const parentName = path.posix.dirname(name);
    if (parentName === '/') return undefined;
    const parent = this.d.store.byName(parentName);
    const link = parent && this.links(parent).find((l) => l.name === name);
    return link ? { parent: parent!, target: link.target, name } : undefined;
  },

  /** `docker rm --link parent/alias`: the parent forgets the link; both containers stay. */
  async removeLink(this: ContainerService, ref: string): Promise<void> {
    const name = `/${ref.replace(/^\/+/, '')}`;
    if (path.posix.dirname(name) === '/') {
      if (!this.d.store.tryResolve(ref)) throw notFound(`No such container: ${ref}`);
      throw new GantryError('internal', 'Conflict, cannot remove the default link name of the container');
    }
    const found = this.linkTarget(ref);
    if (!found) throw notFound(`No such container: ${ref}`);
    const { parent } = found;
    parent.HostConfig.Links = (parent.HostConfig.Links ?? []).filter((l) => l.slice(l.indexOf(':') + 1) !== name);
    if (!parent.HostConfig.Links.length) parent.HostConfig.Links = null;
    await this.d.store.save(parent);
  },
};
