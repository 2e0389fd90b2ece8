/**
 * The node's and its pods' CPU and memory, as the kubelet's Summary API (`/stats/summary`) reports them
 * for metrics-server: sampled every `intervalMs` (cAdvisor's housekeeping, 10 s), CPU as a rate over
 * the last interval (nano-cores) and memory as the working set. Containers are read through the
 * runtime (the engine's stats, from cgroup v1 or v2); the node from /proc, or, for nodes sharing a
 * machine, as the sum of its pods and its agent.
 */
import { promises as fs } from 'node:fs';
import type { Logger } from '../../common/log.js';
import type { ContainerUsage, Runtime } from './runtime.js';

export interface UsageSample {
  time: string;
  cpu: { time: string; usageNanoCores: number; usageCoreNanoSeconds: number };
  memory: { time: string; workingSetBytes: number; usageBytes: number };
}

export interface PodStats {
  podRef: { name: string; namespace: string; uid: string };
  startTime?: string;
  containers: Array<{ name: string } & UsageSample>;
  cpu: UsageSample['cpu'];
  memory: UsageSample['memory'];
}

export interface Summary {
  node: { nodeName: string } & UsageSample;
  pods: PodStats[];
}

/** Host CPU time used (not idle or iowait) in ns, and memory in use, from /proc. */
export async function hostUsage(): Promise<ContainerUsage> {
  const [stat, meminfo] = await Promise.all([fs.readFile('/proc/stat', 'utf8'), fs.readFile('/proc/meminfo', 'utf8')]);
  const fields = stat.split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const busy = fields.reduce((a, b) => a + b, 0) - (fields[3] ?? 0) - (fields[4] ?? 0);
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1] ?? 0) * 1024;
  const total = kb('MemTotal');
  return {
    cpuNanos: (busy * 1e9) / 100,
    workingSetBytes: total - kb('MemAvailable'),
    memoryUsageBytes: total - kb('MemFree'),
    at: Date.now(),
  };
}

/** This agent process's own CPU time and memory. */
function agentUsage(): ContainerUsage {
  const cpu = process.cpuUsage();
  const rss = process.memoryUsage.rss();
  return { cpuNanos: (cpu.user + cpu.system) * 1e3, workingSetBytes: rss, memoryUsageBytes: rss, at: Date.now() };
}

/**
 * What a node's own usage is: the machine's (`host`, from /proc: one node per machine, as the kubelet
 * reports its root cgroup), or its pods' and its agent's (`pods`: several nodes sharing a machine, as
 * `gantry cluster up` makes them, where the machine's figure would be every node's).
 */
export type NodeUsageSource = 'host' | 'pods';

/** nano-cores between two samples of cumulative CPU time. */
export function cpuRate(
  prev: Pick<ContainerUsage, 'cpuNanos' | 'at'> | undefined,
  cur: Pick<ContainerUsage, 'cpuNanos' | 'at'>,
): number {
  if (!prev || cur.at <= prev.at || cur.cpuNanos < prev.cpuNanos) return 0;
  // A core busy for 1 ms uses 1e6 ns of CPU: ns per ms, times 1e3, is nano-cores.
  return Math.round(((cur.cpuNanos - prev.cpuNanos) / (cur.at - prev.at)) * 1e3);
}

const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

function sample(prev: ContainerUsage | undefined, cur: ContainerUsage): UsageSample {
  const time = rfc3339(cur.at);
  return {
    time,
    cpu: { time, usageNanoCores: cpuRate(prev, cur), usageCoreNanoSeconds: cur.cpuNanos },
    memory: { time, workingSetBytes: cur.workingSetBytes, usageBytes: cur.memoryUsageBytes },
  };
}

export class ResourceSampler {
  private timer?: NodeJS.Timeout;
  private previous = new Map<string, ContainerUsage>();
  private latest?: Summary;
  private running?: Promise<void>;

  constructor(
    private readonly nodeName: string,
    private readonly runtime: Runtime,
    /** The namespace, name and start time of one of this node's pods, by UID. */
    private readonly podOf: (uid: string) => { namespace: string; name: string; startTime?: string } | undefined,
    private readonly logger: Logger,
    private readonly intervalMs = 10_000,
    private readonly nodeUsage: NodeUsageSource = 'host',
  ) {}

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The last summary. Sampling starts with the first request (someone reads metrics: metrics-server,
   * the HPA, `kubectl top`), so an agent nobody asks spends nothing on it; that first answer has no
   * CPU rate yet unless a second sample is taken a second later.
   */
  async summary(): Promise<Summary> {
    if (!this.timer) {
      this.timer = setInterval(() => {
        this.running = this.sampleNow()
          .then(() => undefined)
          .catch((err: unknown) => this.logger.warn({ err: String(err) }, 'resource sample failed'));
      }, this.intervalMs);
      this.timer.unref();
      await this.sampleNow();
      await new Promise((r) => setTimeout(r, 1000));
      return this.sampleNow();
    }
    await this.running;
    return this.latest ?? this.sampleNow();
  }

  async sampleNow(): Promise<Summary> {
    const next = new Map<string, ContainerUsage>();
    const host = this.nodeUsage === 'host' ? await hostUsage() : agentUsage();
    next.set('', host);
    const pods = new Map<string, PodStats>();
    const containers = (await this.runtime.nodeContainers()).filter(
      (c) => c.state === 'running' && c.name && c.name !== 'SANDBOX',
    );
    const usages = await Promise.all(containers.map((c) => this.runtime.usage(c.id)));
    containers.forEach((c, i) => {
      const usage = usages[i];
      const pod = this.podOf(c.podUid);
      if (!usage || !pod) return;
      next.set(c.id, usage);
      const s = sample(this.previous.get(c.id), usage);
      let stats = pods.get(c.podUid);
      if (!stats) {
        stats = {
          podRef: { name: pod.name, namespace: pod.namespace, uid: c.podUid },
          ...(pod.startTime ? { startTime: pod.startTime } : {}),
          containers: [],
          cpu: { time: s.time, usageNanoCores: 0, usageCoreNanoSeconds: 0 },
          memory: { time: s.time, workingSetBytes: 0, usageBytes: 0 },
        };
        pods.set(c.podUid, stats);
      }
      stats.containers.push({ name: c.name, ...s });
      stats.cpu.usageNanoCores += s.cpu.usageNanoCores;
      stats.cpu.usageCoreNanoSeconds += s.cpu.usageCoreNanoSeconds;
      stats.memory.workingSetBytes += s.memory.workingSetBytes;
      stats.memory.usageBytes += s.memory.usageBytes;
    });
    const node = sample(this.previous.get(''), host);
    if (this.nodeUsage === 'pods')
      for (const p of pods.values()) {
        node.cpu.usageNanoCores += p.cpu.usageNanoCores;
        node.cpu.usageCoreNanoSeconds += p.cpu.usageCoreNanoSeconds;
        node.memory.workingSetBytes += p.memory.workingSetBytes;
        node.memory.usageBytes += p.memory.usageBytes;
      }
    const summary: Summary = { node: { nodeName: this.nodeName, ...node }, pods: [...pods.values()] };
    this.previous = next;
    this.latest = summary;
    return summary;
  }
}
