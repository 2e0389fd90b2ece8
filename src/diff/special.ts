/**
 * Filesystem operations Node has no API for: device nodes and extended attributes. They are rare in
 * layers (whiteouts, /dev entries, file capabilities), so they are batched into one shell run of the
 * standard tools (`mknod` from coreutils, `setfattr` from attr) instead of a native addon.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export type SpecialOp =
  | {
      op: 'mknod';
      path: string;
      type: 'c' | 'b' | 'p';
      major: number;
      minor: number;
      mode: number;
      uid: number;
      gid: number;
      mtime?: Date;
    }
  | { op: 'xattr'; path: string; name: string; value: Buffer };

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function runSpecialOps(ops: SpecialOp[]): Promise<void> {
  if (ops.length === 0) return;
  const lines = ['set -e'];
  for (const o of ops) {
    if (o.op === 'mknod') {
      const mode = (o.mode & 0o7777).toString(8).padStart(4, '0');
      lines.push(
        o.type === 'p' ? `mknod -m ${mode} ${q(o.path)} p` : `mknod -m ${mode} ${q(o.path)} ${o.type} ${o.major} ${o.minor}`,
      );
      lines.push(`chown -h ${o.uid}:${o.gid} ${q(o.path)}`);
      if (o.mode & 0o7000) lines.push(`chmod ${mode} ${q(o.path)}`);
      if (o.mtime) lines.push(`touch -h -d @${Math.floor(o.mtime.getTime() / 1000)} ${q(o.path)}`);
    } else {
      lines.push(`setfattr -h -n ${q(o.name)} -v 0s${o.value.toString('base64')} ${q(o.path)}`);
    }
  }
  try {
    await execFileP('/bin/sh', ['-c', lines.join('\n')], { maxBuffer: 1 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`applying device nodes and xattrs: ${e.stderr?.trim() || e.message}`);
  }
}
