/**
 * The kubelet's own metrics (`pkg/kubelet/metrics`) on the agent's `/metrics`: pods and containers
 * running, how long pods took from the agent first seeing them to running, how long pod syncs take.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { SANDBOX, type Runtime } from './runtime.js';

/** The kubelet's pod start buckets: half a second to an hour. */
const START_BUCKETS = [
  0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600,
];

export class KubeletMetrics {
  /** When the agent first saw each pod not yet running, by UID. */
  private readonly firstSeen = new Map<string, number>();
  /** Pods whose start was observed (once per pod). */
  private readonly started = new Set<string>();
  private readonly startDuration: Histogram;
  private readonly syncDuration: Histogram<'operation'>;
  private readonly startedPods: Counter;

  constructor(registry: Registry, nodeName: string, runtime: Pick<Runtime, 'nodeContainers'>) {
    const registers = [registry];
    new Gauge({
      name: 'kubelet_node_name',
      help: "The node's name. The count is always 1.",
      labelNames: ['node'],
      registers,
    }).set({ node: nodeName }, 1);
    this.startDuration = new Histogram({
      name: 'kubelet_pod_start_duration_seconds',
      help: 'Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run',
      buckets: START_BUCKETS,
      registers,
    });
    this.syncDuration = new Histogram({
      name: 'kubelet_pod_worker_duration_seconds',
      help: 'Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync',
      labelNames: ['operation'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.startedPods = new Counter({
      name: 'kubelet_started_pods_total',
      help: 'Cumulative number of pods started',
      registers,
    });
    // Both read from the runtime at scrape time, so they are right after an agent restart too.
    const containers = (): ReturnType<Runtime['nodeContainers']> => runtime.nodeContainers();
    new Gauge({
      name: 'kubelet_running_pods',
      help: 'Number of pods that have a running pod sandbox',
      registers,
      async collect() {
        this.set((await containers()).filter((c) => c.name === SANDBOX && c.state === 'running').length);
      },
    });
    new Gauge({
      name: 'kubelet_running_containers',
      help: 'Number of containers currently running',
      labelNames: ['container_state'],
      registers,
      async collect() {
        const counts: Record<string, number> = { created: 0, running: 0, exited: 0, unknown: 0 };
        for (const c of await containers()) {
          if (c.name === SANDBOX) continue;
          const state = c.state in counts ? c.state : 'unknown';
          counts[state]!++;
        }
        for (const [state, n] of Object.entries(counts)) this.set({ container_state: state }, n);
      },
    });
  }

  /**
   * A sync of pod `uid` took `seconds`. `madeSandbox`: this sync made the pod's sandbox (the agent is
   * starting it, not finding it after a restart); `running`: all its containers run now.
   */
  podSynced(uid: string, seconds: number, madeSandbox: boolean, running: boolean): void {
    const known = this.firstSeen.has(uid) || this.started.has(uid);
    this.syncDuration.observe({ operation: known ? 'sync' : 'create' }, seconds);
    if (!known) {
      // Found running by an agent that did not start it (after a restart): no start to measure.
      if (running && !madeSandbox) {
        this.started.add(uid);
        return;
      }
      this.firstSeen.set(uid, performance.now() - seconds * 1000);
    }
    if (!running || this.started.has(uid)) return;
    this.started.add(uid);
    this.startedPods.inc();
    this.startDuration.observe((performance.now() - this.firstSeen.get(uid)!) / 1000);
    this.firstSeen.delete(uid);
  }

  /** Pod `uid` is gone from this node. */
  forget(uid: string): void {
    this.firstSeen.delete(uid);
    this.started.delete(uid);
  }
}
