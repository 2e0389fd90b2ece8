/** COPY and ADD's `--chown=user[:group]`: numbers as they are, names from the image's /etc/passwd and /etc/group. */
import { invalid } from '../common/errors.js';
import { readImageFile } from '../runtime/user.js';
import { expandWord } from './dockerfile.js';
import type { ImageMount } from './mounts.js';

const numeric = (v: string): number | undefined => (/^\d+$/.test(v) ? Number(v) : undefined);

/** The owner `chown` names; the image is mounted (by `mount`) only when a name must be looked up. */
export async function chownIds(
  chown: string | undefined,
  env: Record<string, string>,
  escape: string,
  mount: () => Promise<ImageMount>,
): Promise<{ uid: number; gid: number }> {
  if (!chown) return { uid: 0, gid: 0 };
  const [user = '', group] = expandWord(chown, env, escape).split(':');
  const uidGiven = numeric(user);
  if (uidGiven !== undefined && group === undefined) return { uid: uidGiven, gid: uidGiven };
  if (uidGiven !== undefined && numeric(group!) !== undefined) return { uid: uidGiven, gid: numeric(group!)! };
  const m = await mount();
  try {
    const passwd = await readImageFile(m.dir, 'etc/passwd');
    const groups = await readImageFile(m.dir, 'etc/group');
    const pw = passwd
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[0] === user || f[2] === user);
    const uid = uidGiven ?? (pw ? Number(pw[2]) : undefined);
    if (uid === undefined)
      throw invalid(
        `unable to convert uid/gid chown string to host mapping: can't find uid for user ${user}: no such user: ${user}`,
      );
    if (group === undefined) return { uid, gid: pw ? Number(pw[3]) : uid };
    const gr = groups
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[0] === group || f[2] === group);
    const gid = numeric(group) ?? (gr ? Number(gr[2]) : undefined);
    if (gid === undefined)
      throw invalid(
        `unable to convert uid/gid chown string to host mapping: can't find gid for group ${group}: no such group: ${group}`,
      );
    return { uid, gid };
  } finally {
    await m.release();
  }
}
