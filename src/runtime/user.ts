/** Resolve `-u user[:group]` against the container's own /etc/passwd and /etc/group, as Docker does. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalid } from '../common/errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

async function readLines(file: string): Promise<string[][]> {
  try {
    return (await fs.readFile(file, 'utf8'))
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

export async function resolveUser(rootfs: string, spec: string | undefined): Promise<ResolvedUser> {
  const passwd = await readLines(path.join(rootfs, 'etc/passwd'));
  const groups = await readLines(path.join(rootfs, 'etc/group'));
  const [userPart = '', groupPart] = (spec ?? '').split(':');
  let uid = 0;
  let gid = 0;
  let home = '/root';
  let name = 'root';
  if (userPart !== '') {
    const entry = passwd.find((p) => p[0] === userPart) ?? (/^\d+$/.test(userPart) ? passwd.find((p) => p[2] === userPart) : undefined);
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
    const g = groups.find((x) => x[0] === groupPart) ?? (/^\d+$/.test(groupPart) ? groups.find((x) => x[2] === groupPart) : undefined);
    if (g) gid = Number(g[2]);
    else if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else throw invalid(`unable to find group ${groupPart}: no matching entries in group file`);
  }
  const additionalGids = name
    ? groups.filter((g) => (g[3] ?? '').split(',').includes(name)).map((g) => Number(g[2])).filter((g) => g !== gid)
    : [];
  return { uid, gid, additionalGids, home };
}
