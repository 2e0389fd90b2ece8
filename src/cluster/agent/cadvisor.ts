/**
 * cAdvisor's container metrics as the kubelet serves them on `/metrics/cadvisor`: CPU, memory and
 * network per container and per pod, plus the machine's, with cAdvisor's names and labels (`container`,
 * `id`, `image`, `name`, `namespace`, `pod`) so Prometheus' Kubernetes scrape configs and the usual
 * dashboards (`container!=""`, `sum by (pod)`) work unchanged. Read fresh on each scrape from the
 * engine's stats (cgroup v1 or v2, and the sandbox's /proc/<pid>/net/dev).
 */
import os from 'node:os';
import { Counter, Gauge, Registry } from 'prom-client';
import { hostUsage } from './resourcestats.js';
import { SANDBOX, type ContainerUsage, type InterfaceUsage, type Runtime, type RuntimeContainer } from './runtime.js';

type Label = 'container' | 'id' | 'image' | 'name' | 'namespace' | 'pod';
type Labels = Record<Label, string>;
const LABELS: Label[] = ['container', 'id', 'image', 'name', 'namespace', 'pod'];

const NETWORK: Array<[keyof Omit<InterfaceUsage, 'name'>, string, string]> = [
  ['rxBytes', 'container_network_receive_bytes_total', 'Cumulative count of bytes received'],
  ['rxPackets', 'container_network_receive_packets_total', 'Cumulative count of packets received'],
  ['rxErrors', 'container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving'],
  [
    'rxDropped',
    'container_network_receive_packets_dropped_total',
    'Cumulative count of packets dropped while receiving',
  ],
  ['txBytes', 'container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted'],
  ['txPackets', 'container_network_transmit_packets_total', 'Cumulative count of packets transmitted'],
  ['txErrors', 'container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting'],
  [
    'txDropped',
    'container_network_transmit_packets_dropped_total',
    'Cumulative count of packets dropped while transmitting',
  ],
];

/** One scrape's worth of series, made in a registry of its own (the set of containers changes). */
class Scrape {
  readonly registry = new Registry();
  private readonly cpu = new Counter({
    name: 'container_cpu_usage_seconds_total',
    help: 'Cumulative cpu time consumed in seconds.',
    labelNames: LABELS,
    registers: [this.registry],
  });
  private readonly workingSet = new Gauge({
    name: 'container_memory_working_set_bytes',
    help: 'Current working set in bytes.',
    labelNames: LABELS,
    registers: [this.registry],
  });
  private readonly memory = new Gauge({
    name: 'container_memory_usage_bytes',
    help: 'Current memory usage in bytes, including all memory regardless of when it was accessed',
    labelNames: LABELS,
    registers: [this.registry],
  });
  private readonly network = NETWORK.map(
    ([field, name, help]) =>
      [field, new Counter({ name, help, labelNames: [...LABELS, 'interface'], registers: [this.registry] })] as const,
  );

  constructor() {
    new Gauge({ name: 'machine_cpu_cores', help: 'Number of logical CPU cores.', registers: [this.registry] }).set(
      os.cpus().length,
    );
    new Gauge({
      name: 'machine_memory_bytes',
      help: 'Amount of memory installed on the machine.',
      registers: [this.registry],
    }).set(os.totalmem());
  }

  add(labels: Labels, u: Pick<ContainerUsage, 'cpuNanos' | 'workingSetBytes' | 'memoryUsageBytes'>): void {
    this.cpu.inc(labels, u.cpuNanos / 1e9);
    this.workingSet.set(labels, u.workingSetBytes);
    this.memory.set(labels, u.memoryUsageBytes);
  }

  addInterfaces(labels: Labels, interfaces: InterfaceUsage[]): void {
    for (const i of interfaces)
      for (const [field, counter] of this.network) counter.inc({ ...labels, interface: i.name }, i[field]);
  }
}

export async function cadvisorMetrics(
  runtime: Runtime,
  /** The namespace and name of one of this node's pods, by UID. */
  podOf: (uid: string) => { namespace: string; name: string } | undefined,
): Promise<{ contentType: string; body: string }> {
  const scrape = new Scrape();
  const empty: Labels = { container: '', id: '', image: '', name: '', namespace: '', pod: '' };
  scrape.add({ ...empty, id: '/' }, await hostUsage());
  const running = (await runtime.nodeContainers()).filter((c) => c.state === 'running' && podOf(c.podUid));
  const usages = await Promise.all(running.map((c) => runtime.usage(c.id)));
  const pods = new Map<string, Array<[RuntimeContainer, ContainerUsage]>>();
  running.forEach((c, i) => {
    const u = usages[i];
    if (!u) return;
    const list = pods.get(c.podUid) ?? [];
    list.push([c, u]);
    pods.set(c.podUid, list);
  });
  for (const [uid, list] of pods) {
    const pod = podOf(uid)!;
    const podLabels: Labels = { ...empty, id: `/kubepods/pod${uid}`, namespace: pod.namespace, pod: pod.name };
    const total = { cpuNanos: 0, workingSetBytes: 0, memoryUsageBytes: 0 };
    for (const [c, u] of list) {
      total.cpuNanos += u.cpuNanos;
      total.workingSetBytes += u.workingSetBytes;
      total.memoryUsageBytes += u.memoryUsageBytes;
      // The sandbox holds the pod's network: its interfaces are the pod's.
      if (c.name === SANDBOX) scrape.addInterfaces(podLabels, u.interfaces ?? []);
      else
        scrape.add(
          {
            container: c.name,
            id: `/kubepods/pod${uid}/${c.id}`,
            image: c.image ?? '',
            name: c.runtimeName,
            namespace: pod.namespace,
            pod: pod.name,
          },
          u,
        );
    }
    scrape.add(podLabels, total);
  }
  return { contentType: scrape.registry.contentType, body: await scrape.registry.metrics() };
}
