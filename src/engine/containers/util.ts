/** Helpers of the container service that hold no state: environment merging, hosts and resolv.conf text, OOM and exit-code reading, start errors worded as Docker words them, volume copy-up. */
import { closeSync, constants as fsConstants, fstatSync, promises as fs } from 'node:fs';
import { GantryError, invalid } from '../../common/errors.js';
import { ConfinedDir, fdPath } from '../../common/confined.js';
import { HOST_GATEWAY, parseExtraHost } from '../../containers/resolution.js';
import type { ContainerRecord } from '../../containers/types.js';
import type { MountPoint } from '../../volumes/store.js';
import { spawn } from 'node:child_process';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/**
 * moby's ReplaceOrAppendEnvValues (exec's environment over the container's): each override replaces
 * the entry of its name in place or is appended; a bare `NAME` (no `=`) unsets NAME.
 */
export function mergeEnv(base: string[], overrides: string[]): string[] {
  const out = [...base];
  const nameOf = (e: string): string => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);
  for (const e of overrides) {
    const i = out.findIndex((x) => nameOf(x) === nameOf(e));
    if (!e.includes('=')) {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

/**
 * A new container's `Config.Env` as moby's create merges it: the request's entries as given (a bare
 * `NAME` kept, as `docker inspect` shows it), then the image's entries whose names the request does
 * not use.
 */
export function mergeImageEnv(image: string[], requested: string[]): string[] {
  if (requested.length === 0) return [...image];
  const nameOf = (e: string): string => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);
  const used = new Set(requested.map(nameOf));
  return [...requested, ...image.filter((e) => !used.has(nameOf(e)))];
}

/** The environment a process gets: entries without `=` (an unset request) are not variables. */
export function processEnv(env: string[]): string[] {
  return env.filter((e) => e.includes('='));
}

/** /etc/hosts: the standard entries, `--add-host` entries (validated at create; `host-gateway` is `hostGateway`), then `entries`. */
export function hostsFile(hostname: string, extra: string[], entries: string[], hostGateway = ''): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const e of extra) {
    const { name, address } = parseExtraHost(e);
    const ip = address === HOST_GATEWAY ? hostGateway : address;
    if (ip) lines.push(`${ip}\t${name}`);
  }
  lines.push(...entries);
  if (!entries.length) lines.push(`127.0.1.1\t${hostname}`);
  return lines.join('\n') + '\n';
}

export async function resolvConf(dns: string[], search: string[], options: string[]): Promise<string> {
  let host = '';
  try {
    host = await fs.readFile('/etc/resolv.conf', 'utf8');
  } catch {
    host = '';
  }
  const servers = dns.length
    ? dns
    : host
        .split('\n')
        .filter((l) => /^\s*nameserver\s+/.test(l))
        .map((l) => l.trim().split(/\s+/)[1]!)
        .filter((s) => !s.startsWith('127.'));
  const searches = search.length
    ? search
    : host
        .split('\n')
        .filter((l) => /^\s*search\s+/.test(l))
        .flatMap((l) => l.trim().split(/\s+/).slice(1));
  const lines: string[] = [];
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  for (const s of servers.length ? servers : ['8.8.8.8', '8.8.4.4']) lines.push(`nameserver ${s}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Did the kernel's OOM killer act in this container's memory cgroup (v1 or v2)? */
export async function oomKilled(id: string): Promise<boolean> {
  for (const f of [
    `/sys/fs/cgroup/memory/gantry/${id}/memory.oom_control`,
    `/sys/fs/cgroup/gantry/${id}/memory.events`,
  ]) {
    try {
      const text = await fs.readFile(f, 'utf8');
      const m = /^oom_kill (\d+)$/m.exec(text);
      if (m) return Number(m[1]) > 0;
    } catch {
      // Not this cgroup version.
    }
  }
  return false;
}

export function parseLogSize(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d+)([kmg]?)$/i.exec(v.trim());
  if (!m) throw invalid(`invalid max-size: ${v}`);
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
}

export async function writeCtl(ctl: string, height: number, width: number): Promise<void> {
  const fh = await fs.open(ctl, 'a');
  try {
    await fh.write(`1 ${height} ${width}\n`);
  } finally {
    await fh.close();
  }
}

/** Exit code the docker CLI derives from a start error: 127 not found, 126 not executable, else 125. */
export function exitCodeFor(err: unknown): number {
  const m = (err as Error).message ?? '';
  if (/executable file not found|no such file or directory/.test(m)) return 127;
  if (/permission denied|is a directory/.test(m)) return 126;
  return 125;
}

export function translateStartError(err: unknown): GantryError {
  const msg = (err as Error).message ?? String(err);
  let text = msg.replace(/^runc create failed: /, '').replace(/^crun: /, '');
  const exec =
    /exec: "([^"]+)": stat [^:]+: no such file or directory/.exec(text) ??
    /exec: "([^"]+)": executable file not found in \$PATH/.exec(text);
  if (exec) text = `unable to start container process: exec: "${exec[1]}": executable file not found in $PATH`;
  return new GantryError(
    'invalid',
    `failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: ${text}: unknown`,
  );
}

/**
 * Copy what the image has at a volume's destination into the empty volume, keeping owners and modes
 * (`cp -a`). The destination resolves inside the container's root as the container sees it, and cp
 * reads it through the directory's fd, so an image's symlink never makes it copy the host's files.
 */
export async function copyUp(rootfs: string, destination: string, volumeDir: string): Promise<void> {
  const entries = await fs.readdir(volumeDir).catch(() => ['?']);
  if (entries.length) return;
  let dirFd: number;
  try {
    dirFd = await ConfinedDir.with(rootfs, 'in-root', (root) =>
      root.open(destination, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY),
    );
  } catch {
    return; // Nothing (or no directory) there in the image.
  }
  try {
    const st = fstatSync(dirFd);
    if (!(await fs.readdir(fdPath(dirFd))).length) return;
    await new Promise<void>((resolve, reject) => {
      const child = spawn('cp', ['-a', '/proc/self/fd/3/.', `${volumeDir}/`], {
        stdio: ['ignore', 'ignore', 'pipe', dirFd],
      });
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`copying image content into the volume failed: ${err.trim()}`)),
      );
    });
    await fs.chown(volumeDir, st.uid, st.gid);
    await fs.chmod(volumeDir, st.mode & 0o7777);
  } finally {
    closeSync(dirFd);
  }
}

/** The attributes of Docker's volume mount and unmount events. */
export function volumeEventAttrs(rec: ContainerRecord, m: MountPoint): Record<string, string> {
  return {
    container: rec.Id,
    destination: m.Destination,
    driver: m.Driver ?? 'local',
    propagation: m.Propagation ?? '',
    'read/write': String(m.RW),
  };
}
