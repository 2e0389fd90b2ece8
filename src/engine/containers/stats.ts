/** What runs and what it uses: `docker top`, `docker stats` samples from the cgroup, the writable layer's size. */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { conflict } from '../../common/errors.js';

import os from 'node:os';
import type { ContainerRecord } from '../../containers/types.js';
import type { ContainerService } from './service.js';
import {
  cpuDetailV1,
  cpuDetailV2,
  parseBlkioV1,
  parseIoStatV2,
  type BlkioEntry,
  type CpuDetail,
} from './cgroupstats.js';

export const statsMethods = {
  async sizeRw(this: ContainerService, id: string): Promise<number> {
    let total = 0;
    const stack = [this.d.snapshots.activeDirs(id).upper];
    while (stack.length) {
      const dir = stack.pop()!;
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) stack.push(p);
        else total += (await fs.lstat(p).catch(() => ({ size: 0 }))).size;
      }
    }
    return total;
  },

  async top(this: ContainerService, ref: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = this.d.store.resolve(ref);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    const pids = await this.runtimeOf(rec).pids(rec.Id);
    const rows: string[][] = [];
    for (const pid of pids) {
      const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''))
        .split('\0')
        .filter(Boolean)
        .join(' ');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '0';
      const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
      const secs = Math.floor(ticks / 100);
      const time = `${String(Math.floor(secs / 3600)).padStart(2, '0')}:${String(Math.floor(secs / 60) % 60).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
      rows.push([uid === '0' ? 'root' : uid, String(pid), fields[1] ?? '', '0', '', '?', time, cmd]);
    }
    return { Titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], Processes: rows };
  },

  /** One sample of the container's cgroup counters, in Docker's stats shape. */
  async statsSample(this: ContainerService, ref: string): Promise<Record<string, unknown>> {
    const rec = this.d.store.resolve(ref);
    const id = rec.Id;
    const read = async (f: string): Promise<string> => fs.readFile(f, 'utf8').catch(() => '');
    const num = async (f: string): Promise<number> => Number((await read(f)).trim() || 0);
    const v1 = existsSync(`/sys/fs/cgroup/memory/gantry/${id}`);
    let memUsage = 0;
    let memLimit = 0;
    let memMax = 0;
    const memStats: Record<string, number> = {};
    let cpuTotal = 0;
    let percpu: number[] = [];
    let pids = 0;
    let cpu: CpuDetail = {
      usage_in_usermode: 0,
      usage_in_kernelmode: 0,
      throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    };
    let ioBytes: BlkioEntry[] = [];
    let ioOps: BlkioEntry[] = [];
    if (v1) {
      const m = `/sys/fs/cgroup/memory/gantry/${id}`;
      memUsage = await num(`${m}/memory.usage_in_bytes`);
      memLimit = await num(`${m}/memory.limit_in_bytes`);
      memMax = await num(`${m}/memory.max_usage_in_bytes`);
      for (const line of (await read(`${m}/memory.stat`)).split('\n')) {
        const [k, v] = line.split(' ');
        if (k && v) memStats[k] = Number(v);
      }
      cpuTotal = await num(`/sys/fs/cgroup/cpuacct/gantry/${id}/cpuacct.usage`);
      percpu = (await read(`/sys/fs/cgroup/cpuacct/gantry/${id}/cpuacct.usage_percpu`))
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
      pids = await num(`/sys/fs/cgroup/pids/gantry/${id}/pids.current`);
      cpu = cpuDetailV1(
        await read(`/sys/fs/cgroup/cpuacct/gantry/${id}/cpuacct.stat`),
        await read(`/sys/fs/cgroup/cpu/gantry/${id}/cpu.stat`),
      );
      const blkio = `/sys/fs/cgroup/blkio/gantry/${id}`;
      ioBytes = parseBlkioV1(await read(`${blkio}/blkio.throttle.io_service_bytes_recursive`));
      ioOps = parseBlkioV1(await read(`${blkio}/blkio.throttle.io_serviced_recursive`));
    } else {
      const g = `/sys/fs/cgroup/gantry/${id}`;
      memUsage = await num(`${g}/memory.current`);
      const max = (await read(`${g}/memory.max`)).trim();
      memLimit = max === 'max' || !max ? os.totalmem() : Number(max);
      for (const line of (await read(`${g}/memory.stat`)).split('\n')) {
        const [k, v] = line.split(' ');
        if (k && v) memStats[k] = Number(v);
      }
      const detail = cpuDetailV2(await read(`${g}/cpu.stat`));
      cpuTotal = detail.total;
      cpu = detail;
      pids = await num(`${g}/pids.current`);
      const io = parseIoStatV2(await read(`${g}/io.stat`));
      ioBytes = io.bytes;
      ioOps = io.ios;
    }
    const stat = (await read('/proc/stat')).split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    const systemUsage = (stat.reduce((a, b) => a + b, 0) * 1e9) / 100;
    return {
      read: new Date().toISOString(),
      name: rec.Name,
      id,
      pids_stats: { current: pids, ...(rec.HostConfig.PidsLimit ? { limit: rec.HostConfig.PidsLimit } : {}) },
      blkio_stats: {
        io_service_bytes_recursive: ioBytes.length ? ioBytes : null,
        io_serviced_recursive: ioOps.length ? ioOps : null,
        io_queue_recursive: null,
        io_service_time_recursive: null,
        io_wait_time_recursive: null,
        io_merged_recursive: null,
        io_time_recursive: null,
        sectors_recursive: null,
      },
      num_procs: 0,
      storage_stats: {},
      cpu_stats: {
        cpu_usage: {
          total_usage: cpuTotal,
          percpu_usage: percpu,
          usage_in_kernelmode: cpu.usage_in_kernelmode,
          usage_in_usermode: cpu.usage_in_usermode,
        },
        system_cpu_usage: systemUsage,
        online_cpus: os.cpus().length,
        throttling_data: cpu.throttling_data,
      },
      memory_stats: rec.State.Running
        ? { usage: memUsage, max_usage: memMax, stats: memStats, limit: Math.min(memLimit, os.totalmem()) }
        : {},
      ...(await networkStats(rec)),
    };
  },
};

export interface InterfaceStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** `/proc/<pid>/net/dev` as Docker's `networks` map: every interface but loopback. */
export function parseNetDev(text: string): Record<string, InterfaceStats> {
  const out: Record<string, InterfaceStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (name === 'lo' || f.length < 16) continue;
    out[name] = {
      rx_bytes: f[0]!,
      rx_packets: f[1]!,
      rx_errors: f[2]!,
      rx_dropped: f[3]!,
      tx_bytes: f[8]!,
      tx_packets: f[9]!,
      tx_errors: f[10]!,
      tx_dropped: f[11]!,
    };
  }
  return out;
}

/**
 * A running container's interfaces, read in its own network namespace (its init's /proc view). As
 * Docker, none for containers that share the host's or another container's network.
 */
async function networkStats(rec: ContainerRecord): Promise<{ networks?: Record<string, InterfaceStats> }> {
  const mode = rec.HostConfig.NetworkMode ?? '';
  if (mode === 'host' || mode.startsWith('container:')) return {};
  if (!rec.State.Running || !rec.State.Pid) return { networks: {} };
  const text = await fs.readFile(`/proc/${rec.State.Pid}/net/dev`, 'utf8').catch(() => '');
  return { networks: parseNetDev(text) };
}
