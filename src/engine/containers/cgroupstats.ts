/**
 * Cgroup counter files as Docker's stats fields (moby's daemon/stats_unix.go over libcontainer's
 * readings): block I/O per device and operation, CPU time in user and kernel mode, CFS throttling.
 * cgroups v1 name operations `Read`/`Write`/...; v2 `read`/`write`, as Docker reports them.
 */

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** v1 `blkio.throttle.io_service_bytes_recursive` (or `io_serviced`): `MAJ:MIN Op value` lines and a `Total` line. */
export function parseBlkioV1(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

/** v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..` as bytes and operations per device. */
export function parseIoStatV2(text: string): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const [dev, ...fields] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const kv = Object.fromEntries(fields.map((f) => f.split('=') as [string, string]));
    const major = Number(m[1]);
    const minor = Number(m[2]);
    const num = (k: string): number => Number(kv[k] ?? 0) || 0;
    bytes.push({ major, minor, op: 'read', value: num('rbytes') }, { major, minor, op: 'write', value: num('wbytes') });
    ios.push({ major, minor, op: 'read', value: num('rios') }, { major, minor, op: 'write', value: num('wios') });
  }
  return { bytes, ios };
}

/** `key value` lines (cpu.stat, cpuacct.stat, memory.stat) as numbers. */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** Clock ticks per second of /proc and cpuacct.stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

export interface CpuDetail {
  usage_in_usermode: number;
  usage_in_kernelmode: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

/** v1: `cpuacct.stat` (ticks) and the cpu controller's `cpu.stat`; times in nanoseconds. */
export function cpuDetailV1(cpuacctStat: string, cpuStat: string): CpuDetail {
  const acct = parseKeyValues(cpuacctStat);
  const cfs = parseKeyValues(cpuStat);
  return {
    usage_in_usermode: ((acct.user ?? 0) * 1e9) / USER_HZ,
    usage_in_kernelmode: ((acct.system ?? 0) * 1e9) / USER_HZ,
    throttling_data: {
      periods: cfs.nr_periods ?? 0,
      throttled_periods: cfs.nr_throttled ?? 0,
      throttled_time: cfs.throttled_time ?? 0,
    },
  };
}

/** v2: `cpu.stat` (microseconds); times in nanoseconds. */
export function cpuDetailV2(cpuStat: string): CpuDetail & { total: number } {
  const s = parseKeyValues(cpuStat);
  return {
    total: (s.usage_usec ?? 0) * 1000,
    usage_in_usermode: (s.user_usec ?? 0) * 1000,
    usage_in_kernelmode: (s.system_usec ?? 0) * 1000,
    throttling_data: {
      periods: s.nr_periods ?? 0,
      throttled_periods: s.nr_throttled ?? 0,
      throttled_time: (s.throttled_usec ?? 0) * 1000,
    },
  };
}
