/** What the host allows: hard rlimits (from /proc/self/limits) and capabilities, for clamping. */
import { readFileSync } from 'node:fs';

const NAMES: Record<string, string> = {
  'Max open files': 'RLIMIT_NOFILE',
  'Max processes': 'RLIMIT_NPROC',
  'Max core file size': 'RLIMIT_CORE',
  'Max stack size': 'RLIMIT_STACK',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max file size': 'RLIMIT_FSIZE',
  'Max cpu time': 'RLIMIT_CPU',
  'Max data size': 'RLIMIT_DATA',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

export const UNLIMITED = 2 ** 64 - 1;

let cached: Map<string, number> | undefined;

/** Hard limits of this process, by RLIMIT_* name; unlimited is 2^64-1. */
export function hostHardLimits(): Map<string, number> {
  if (cached) return cached;
  cached = new Map();
  for (const line of readFileSync('/proc/self/limits', 'utf8').split('\n').slice(1)) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = NAMES[m[1]!];
    if (name) cached.set(name, m[3] === 'unlimited' ? UNLIMITED : Number(m[3]));
  }
  return cached;
}

/** Clamp a requested limit to the host's hard limit (raising it needs CAP_SYS_RESOURCE, absent here). */
export function clampLimit(type: string, soft: number, hard: number): { type: string; soft: number; hard: number } {
  const max = hostHardLimits().get(type) ?? UNLIMITED;
  const h = Math.min(hard, max);
  return { type, soft: Math.min(soft, h), hard: h };
}

/** Does this process hold a capability (from /proc/self/status CapEff)? */
export function hasCapability(bit: number): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) return false;
  return (BigInt('0x' + m[1]) & (1n << BigInt(bit))) !== 0n;
}
