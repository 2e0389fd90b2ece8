/** Resolve `-u user[:group]` against the container's own /etc/passwd and /etc/group, as Docker does. */
import { ConfinedDir } from '../common/confined.js';
import { invalid } from '../common/errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/** Largest passwd or group file read from an image. */
const MAX_ACCOUNT_FILE = 16 << 20;

/**
 * A small file of an image or container root (`etc/passwd`, `etc/group`), resolved inside the root as
 * the container would see it; a FIFO, a device or a missing file reads as empty, and nothing blocks.
 */
export async function readImageFile(rootfs: string, rel: string, maxBytes = MAX_ACCOUNT_FILE): Promise<string> {
  return ConfinedDir.with(rootfs, 'in-root', (root) => {
    try {
      return root.readFile(rel, maxBytes)?.toString('utf8') ?? '';
    } catch (err) {
      throw invalid(`reading /${rel} of the container: ${(err as Error).message}`);
    }
  });
}

async function readLines(rootfs: string, rel: string): Promise<string[][]> {
  return (await readImageFile(rootfs, rel))
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

/**
 * `groupAdd` are Docker's `--group-add`: group names (looked up in the image's /etc/group) or numeric
 * ids, added to the process's supplementary groups.
 */
export async function resolveUser(
  rootfs: string,
  spec: string | undefined,
  groupAdd: readonly string[] = [],
): Promise<ResolvedUser> {
  const passwd = await readLines(rootfs, 'etc/passwd');
  const groups = await readLines(rootfs, 'etc/group');
  const [userPart = '', groupPart] = (spec ?? '').split(':');
  let uid = 0;
  let gid = 0;
  let home = '/root';
  let name = 'root';
  if (userPart !== '') {
    const entry =
      passwd.find((p) => p[0] === userPart) ??
      (/^\d+$/.test(userPart) ? passwd.find((p) => p[2] === userPart) : undefined);
    if (entry) {
      name = entry[0]!;
      uid = Number(entry[2]);
      gid = Number(entry[3]);
      home = entry[5] || '/';
    } else if (/^\d+$/.test(userPart)) {
      uid = Number(userPart);
      gid = uid === 0 ? 0 : 0;
      home = '/';
      name = '';
    } else {
      throw invalid(`unable to find user ${userPart}: no matching entries in passwd file`);
    }
  } else {
    const root = passwd.find((p) => p[2] === '0');
    if (root) home = root[5] || '/root';
  }
  if (groupPart !== undefined && groupPart !== '') {
    const g =
      groups.find((x) => x[0] === groupPart) ??
      (/^\d+$/.test(groupPart) ? groups.find((x) => x[2] === groupPart) : undefined);
    if (g) gid = Number(g[2]);
    else if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else throw invalid(`unable to find group ${groupPart}: no matching entries in group file`);
  }
  const additionalGids = name
    ? groups
        .filter((g) => (g[3] ?? '').split(',').includes(name))
        .map((g) => Number(g[2]))
        .filter((g) => g !== gid)
    : [];
  for (const wanted of groupAdd) {
    const g = groups.find((x) => x[0] === wanted);
    const id = g ? Number(g[2]) : /^\d{1,10}$/.test(wanted) && Number(wanted) < 2 ** 31 ? Number(wanted) : undefined;
    if (id === undefined) throw invalid(`Unable to find group ${wanted}: no matching entries in group file`);
    if (!additionalGids.includes(id)) additionalGids.push(id);
  }
  return { uid, gid, additionalGids, home };
}
