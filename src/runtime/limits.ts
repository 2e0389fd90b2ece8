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

/** Capability numbers (linux/capability.h). */
export const CAP_BITS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
};

let boundingCache: bigint | undefined;

/**
 * Whether this process can grant a capability to a container (its bounding set has it). Here, for
 * example, CAP_SYS_RESOURCE is absent, and asking runc for it fails the whole container.
 */
export function hostHasCapability(cap: string): boolean {
  if (boundingCache === undefined) {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    boundingCache = m ? BigInt('0x' + m[1]) : (1n << 41n) - 1n;
  }
  const bit = CAP_BITS[cap];
  return bit !== undefined && (boundingCache & (1n << BigInt(bit))) !== 0n;
}
