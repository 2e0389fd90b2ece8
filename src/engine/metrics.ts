/**
 * dockerd's metrics (moby `daemon/metrics.go`, served on `--metrics-addr`): how long container, image
 * and network actions take, containers by state, health checks, events, and the engine's identity.
 * Names and labels are moby's, so Docker's Grafana dashboards read Gantry unchanged; the counts of
 * networks and images are Gantry's own additions under the same prefix.
 */
import os from 'node:os';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { timed } from '../common/metrics.js';
import { osName } from '../common/osinfo.js';
import { GANTRY_VERSION } from '../version.js';
import type { Engine } from './engine.js';

const PREFIX = 'engine_daemon_';

type AsyncMethod = (...args: never[]) => Promise<unknown>;

/**
 * Replace `target[method]` by one that times each call into `histogram{action}`. The services mix
 * their methods in from a file per concern, so timing them here, once, keeps every one of those
 * files free of metrics code.
 */
function timeMethod<T extends object>(
  target: T,
  method: keyof T & string,
  histogram: Histogram<'action'>,
  action: string,
): void {
  const original = target[method] as unknown as AsyncMethod;
  const wrapped = (...args: never[]): Promise<unknown> =>
    timed(histogram, { action }, () => original.apply(target, args));
  Object.defineProperty(target, method, { value: wrapped, configurable: true, writable: true });
}

export class EngineMetrics {
  readonly healthChecks: Counter;
  readonly healthChecksFailed: Counter;

  constructor(engine: Engine, registry: Registry) {
    const timer = (name: string, help: string): Histogram<'action'> =>
      new Histogram({ name: `${PREFIX}${name}_seconds`, help, labelNames: ['action'], registers: [registry] });
    const containerActions = timer(
      'container_actions',
      'The number of seconds it takes to process each container action',
    );
    const imageActions = timer('image_actions', 'The number of seconds it takes to process each image action');
    const networkActions = timer('network_actions', 'The number of seconds it takes to process each network action');
    // moby reports these five from the start, at zero, so a dashboard's panels are never empty.
    for (const a of ['start', 'changes', 'commit', 'create', 'delete']) containerActions.observe({ action: a }, 0);

    const c = engine.containers;
    for (const [method, action] of [
      ['create', 'create'],
      ['start', 'start'],
      ['remove', 'delete'],
      ['commit', 'commit'],
      ['changes', 'changes'],
    ] as const)
      timeMethod(c, method, containerActions, action);
    const i = engine.images;
    for (const [method, action] of [
      ['pull', 'pull'],
      ['push', 'push'],
      ['remove', 'delete'],
      ['tag', 'tag'],
      ['load', 'load'],
    ] as const)
      timeMethod(i, method, imageActions, action);
    const n = engine.networks;
    for (const [method, action] of [
      ['create', 'create'],
      ['remove', 'delete'],
      ['connect', 'connect'],
      ['disconnect', 'disconnect'],
    ] as const)
      timeMethod(n, method, networkActions, action);

    this.healthChecks = new Counter({
      name: `${PREFIX}health_checks_total`,
      help: 'The total number of health checks',
      registers: [registry],
    });
    this.healthChecksFailed = new Counter({
      name: `${PREFIX}health_checks_failed_total`,
      help: 'The total number of failed health checks',
      registers: [registry],
    });
    c.onHealthCheck = (passed) => {
      this.healthChecks.inc();
      if (!passed) this.healthChecksFailed.inc();
    };
    const events = new Counter({
      name: `${PREFIX}events_total`,
      help: 'The number of events logged',
      registers: [registry],
    });
    engine.events.subscribe(() => events.inc());

    new Gauge({
      name: `${PREFIX}container_states_containers`,
      help: 'The count of containers in various states',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const counts = { running: 0, paused: 0, stopped: 0 };
        for (const rec of c.list()) {
          if (rec.State.Paused) counts.paused++;
          else if (rec.State.Running) counts.running++;
          else counts.stopped++;
        }
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
      },
    });
    new Gauge({
      name: `${PREFIX}networks`,
      help: 'The number of networks the engine has',
      registers: [registry],
      collect() {
        this.set(n.list().length);
      },
    });
    new Gauge({
      name: `${PREFIX}images`,
      help: 'The number of images the engine has',
      registers: [registry],
      collect() {
        this.set(i.imageCount());
      },
    });
    new Gauge({
      name: `${PREFIX}engine_info`,
      help: 'The version and commit information for the engine process',
      labelNames: ['version', 'commit', 'architecture', 'graph_driver', 'kernel', 'os', 'os_type', 'daemon_id'],
      registers: [registry],
    }).set(
      {
        version: GANTRY_VERSION,
        commit: 'gantry',
        architecture: os.machine(),
        graph_driver: 'overlay2',
        kernel: os.release(),
        os: osName(),
        os_type: 'linux',
        daemon_id: engine.id,
      },
      1,
    );
    new Gauge({
      name: `${PREFIX}engine_cpus_cpus`,
      help: 'The number of cpus that the host system of the engine has',
      registers: [registry],
    }).set(os.cpus().length);
    new Gauge({
      name: `${PREFIX}engine_memory_bytes`,
      help: 'The number of bytes of memory that the host system of the engine has',
      registers: [registry],
    }).set(os.totalmem());
  }
}
