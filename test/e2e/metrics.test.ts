/**
 * Prometheus metrics of every Gantry process, read as Prometheus reads them: the engine's
 * `--metrics-addr` (dockerd's names), the API server's `/metrics` (RBAC on the non-resource URL), the
 * agent's kubelet and cAdvisor metrics through the API server's node proxy — each checked by Debian's
 * `promtool check metrics` — and a real Prometheus server scraping them all with the jobs of its
 * Kubernetes example, whose PromQL answers a pod's CPU usage.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  Cleanup,
  docker,
  freePort,
  GANTRY,
  hasKubectl,
  kubectlFor,
  run,
  startDaemon,
  startOneNodeCluster,
  startProcess,
  startRegistry,
  seedRegistry,
  tempDir,
  waitFor,
  type ClusterServer,
  type Daemon,
} from './helpers.js';

const PROMTOOL = '/usr/bin/promtool';
const PROMETHEUS = '/usr/bin/prometheus';
const NODE = 'metrics-1';

/** `promtool check metrics` of an exposition: it must find no problem. */
function promtoolClean(text: string, what: string): void {
  const r = run(PROMTOOL, ['check', 'metrics'], { input: text });
  assert.equal(r.code, 0, `promtool on ${what}: ${r.stdout}${r.stderr}`);
}

/** The value of the first sample of `name` whose labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** Assert a sample of `name` with `labels` is at least `min`, showing the series of that name if not. */
function atLeast(text: string, name: string, labels: Record<string, string>, min: number): void {
  const value = sample(text, name, labels);
  assert.ok(
    value !== undefined && value >= min,
    `${name}${JSON.stringify(labels)} = ${value}, want >= ${min}; have:\n${text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .join('\n')}`,
  );
}

describe('metrics', { skip: (!hasKubectl || !existsSync(PROMTOOL)) && 'kubectl or promtool is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  let d: Daemon;
  let engineMetrics: string;
  const { k, ok } = kubectlFor(() => server.env);
  const curl = (url: string, token: string): { code: number; body: string } => {
    const r = run('curl', ['-sk', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${token}`, url]);
    const cut = r.stdout.lastIndexOf('\n');
    return { code: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
  };

  /** A ServiceAccount's token: a user with no role but what a binding below gives it. */
  let watcher: string | undefined;
  const watcherToken = (): string => {
    if (!watcher) {
      ok(['create', 'serviceaccount', 'watcher']);
      watcher = ok(['create', 'token', 'watcher']).trim();
    }
    return watcher;
  };

  before(async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    const port = await freePort();
    engineMetrics = `http://127.0.0.1:${port}/metrics`;
    d = await startDaemon(cleanup, {
      mirror: `http://${reg.addr}`,
      insecure: [reg.addr],
      extraArgs: ['--metrics-addr', `127.0.0.1:${port}`],
    });
    ({ server } = await startOneNodeCluster(cleanup, NODE));
    ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: burn}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: burn
    image: busybox
    command: [sh, -c, 'while :; do :; done']
    resources: {limits: {cpu: 100m, memory: 32Mi}}
`,
    );
    ok(['wait', '--for=condition=Ready', 'pod/burn', '--timeout=90s']);
  });
  after(() => cleanup.run());

  test("engine: --metrics-addr serves dockerd's metrics, promtool-clean", () => {
    assert.equal(docker(d, ['run', '--name', 'm1', 'busybox', 'true']).code, 0);
    assert.equal(docker(d, ['network', 'create', 'metricsnet']).code, 0);
    const text = run('curl', ['-s', engineMetrics]).stdout;
    promtoolClean(text, 'the engine');
    atLeast(text, 'engine_daemon_container_actions_seconds_count', { action: 'create' }, 1);
    atLeast(text, 'engine_daemon_container_actions_seconds_count', { action: 'start' }, 1);
    atLeast(text, 'engine_daemon_image_actions_seconds_count', { action: 'pull' }, 1);
    assert.equal(sample(text, 'engine_daemon_network_actions_seconds_count', { action: 'create' }), 1);
    assert.equal(sample(text, 'engine_daemon_container_states_containers', { state: 'stopped' }), 1);
    atLeast(text, 'engine_daemon_networks', {}, 2);
    assert.equal(sample(text, 'engine_daemon_engine_info', { graph_driver: 'overlay2' }), 1);
    atLeast(text, 'engine_daemon_events_total', {}, 3);
    atLeast(text, 'process_resident_memory_bytes', {}, Number.MIN_VALUE);
    assert.equal(run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', engineMetrics + 'x']).stdout, '404');
  });

  test('engine: a --metrics-addr that is not host:port is refused before the daemon starts', () => {
    const dir = tempDir(cleanup);
    const r = run(GANTRY, ['daemon', '--data-root', dir, '--exec-root', dir, '--metrics-addr', 'localhost'], {
      timeoutMs: 20_000,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /invalid metrics address "localhost": give host:port/);
  });

  test('API server /metrics: promtool-clean; RBAC on the non-resource URL (system:monitoring)', () => {
    const m = curl(`${server.url}/metrics`, server.token);
    assert.equal(m.code, 200);
    promtoolClean(m.body, 'the API server');
    atLeast(m.body, 'apiserver_request_total', { verb: 'LIST', resource: 'pods', code: '200' }, 1);
    atLeast(m.body, 'apiserver_request_total', { verb: 'POST', resource: 'pods', code: '201' }, 1);
    atLeast(m.body, 'apiserver_request_duration_seconds_count', { verb: 'GET', resource: 'nodes' }, 1);
    atLeast(m.body, 'apiserver_longrunning_requests', { verb: 'WATCH', resource: 'pods' }, 1);
    atLeast(m.body, 'apiserver_storage_objects', { resource: 'pods' }, 1);
    atLeast(m.body, 'apiserver_storage_objects', { resource: 'clusterroles.rbac.authorization.k8s.io' }, 10);
    atLeast(m.body, 'etcd_request_duration_seconds_count', { operation: 'create', type: 'pods' }, 1);
    atLeast(m.body, 'workqueue_adds_total', { name: 'serviceaccount' }, 1);
    assert.notEqual(sample(m.body, 'workqueue_depth', { name: 'deployment' }), undefined);
    atLeast(m.body, 'workqueue_queue_duration_seconds_count', { name: 'serviceaccount' }, 1);
    atLeast(m.body, 'scheduler_schedule_attempts_total', { result: 'scheduled' }, 1);
    assert.notEqual(sample(m.body, 'scheduler_pending_pods', { queue: 'active' }), undefined);

    const token = watcherToken();
    const denied = curl(`${server.url}/metrics`, token);
    assert.equal(denied.code, 403);
    assert.match(denied.body, /cannot get path \\"\/metrics\\"/);
    ok([
      'create',
      'clusterrolebinding',
      'watcher-monitoring',
      '--clusterrole=system:monitoring',
      '--serviceaccount=default:watcher',
    ]);
    const allowed = curl(`${server.url}/metrics`, token);
    assert.equal(allowed.code, 200, allowed.body);
  });

  test("the agent's /metrics and /metrics/cadvisor through the node proxy, promtool-clean", async () => {
    const kubelet = ok(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/metrics`]);
    promtoolClean(kubelet, 'the agent');
    atLeast(kubelet, 'kubelet_running_pods', {}, 1);
    atLeast(kubelet, 'kubelet_running_containers', { container_state: 'running' }, 1);
    atLeast(kubelet, 'kubelet_pod_start_duration_seconds_count', {}, 1);
    assert.equal(sample(kubelet, 'kubelet_node_name', { node: NODE }), 1);

    const labels = { namespace: 'default', pod: 'burn', container: 'burn' };
    let cadvisor = '';
    // Two scrapes a moment apart: the busy loop's CPU time grows.
    await waitFor(() => {
      cadvisor = ok(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/metrics/cadvisor`]);
      return (sample(cadvisor, 'container_cpu_usage_seconds_total', labels) ?? 0) > 0.05;
    }, 'the pod to use CPU');
    promtoolClean(cadvisor, 'cadvisor');
    atLeast(cadvisor, 'container_memory_working_set_bytes', labels, Number.MIN_VALUE);
    atLeast(cadvisor, 'container_cpu_usage_seconds_total', { pod: 'burn', container: '' }, Number.MIN_VALUE);
    assert.notEqual(
      sample(cadvisor, 'container_network_receive_bytes_total', { pod: 'burn', interface: 'eth0' }),
      undefined,
    );
    atLeast(cadvisor, 'container_cpu_usage_seconds_total', { id: '/' }, Number.MIN_VALUE);
    atLeast(cadvisor, 'machine_cpu_cores', {}, 1);

    // Anything else of the node proxy: only GET, only for who may get nodes/proxy.
    assert.match(k(['get', '--raw', `/api/v1/nodes/nowhere/proxy/metrics`]).stderr, /nodes "nowhere" not found/);
    const token = watcherToken();
    assert.equal(curl(`${server.url}/api/v1/nodes/${NODE}/proxy/metrics`, token).code, 403);
  });

  /**
   * Debian builds Prometheus without Kubernetes service discovery (its NEWS.Debian: "Kubernetes support
   * has been completely removed"), so the test does that step: it lists the `kubernetes` Endpoints and
   * the Nodes from Gantry and writes them as file_sd targets with the `__meta_kubernetes_*` labels the
   * Kubernetes discovery gives. The scrape jobs are Prometheus' own Kubernetes example: its relabelling,
   * bearer token, cluster CA and node-proxy paths.
   */
  test(
    'Prometheus scrapes the API server, the agent and cadvisor as its Kubernetes example configures',
    {
      skip: !existsSync(PROMETHEUS) && 'prometheus is not installed',
    },
    async () => {
      const dir = tempDir(cleanup, 'gantry-prometheus-');
      const ca = path.join(server.dir, 'tls', 'ca.crt');
      const tokenFile = path.join(dir, 'token');
      writeFileSync(tokenFile, server.token);
      const endpoints = JSON.parse(ok(['get', 'endpoints', 'kubernetes', '-o', 'json'])) as {
        subsets: Array<{ addresses: Array<{ ip: string }>; ports: Array<{ name: string; port: number }> }>;
      };
      const apiTargets = endpoints.subsets.flatMap((sub) =>
        sub.ports.map((p) => ({
          targets: sub.addresses.map((a) => `${a.ip}:${p.port}`),
          labels: {
            __meta_kubernetes_namespace: 'default',
            __meta_kubernetes_service_name: 'kubernetes',
            __meta_kubernetes_endpoint_port_name: p.name,
          },
        })),
      );
      const nodes = JSON.parse(ok(['get', 'nodes', '-o', 'json'])) as {
        items: Array<{
          metadata: { name: string; labels: Record<string, string> };
          status: {
            addresses: Array<{ type: string; address: string }>;
            daemonEndpoints: { kubeletEndpoint: { Port: number } };
          };
        }>;
      };
      const nodeTargets = nodes.items.map((n) => ({
        targets: [
          `${n.status.addresses.find((a) => a.type === 'InternalIP')!.address}:${n.status.daemonEndpoints.kubeletEndpoint.Port}`,
        ],
        labels: {
          __meta_kubernetes_node_name: n.metadata.name,
          ...Object.fromEntries(
            Object.entries(n.metadata.labels).map(([k, v]) => [
              `__meta_kubernetes_node_label_${k.replace(/[^a-zA-Z0-9_]/g, '_')}`,
              v,
            ]),
          ),
        },
      }));
      writeFileSync(path.join(dir, 'apiservers.json'), JSON.stringify(apiTargets));
      writeFileSync(path.join(dir, 'nodes.json'), JSON.stringify(nodeTargets));
      const auth = `tls_config: {ca_file: ${ca}}
  authorization: {credentials_file: ${tokenFile}}`;
      const address = new URL(server.url).host;
      const nodeJob = (job: string, metricsPath: string): string => `- job_name: ${job}
  scheme: https
  ${auth}
  file_sd_configs: [{files: [${path.join(dir, 'nodes.json')}]}]
  relabel_configs:
  - {action: labelmap, regex: __meta_kubernetes_node_label_(.+)}
  - {target_label: __address__, replacement: '${address}'}
  - {source_labels: [__meta_kubernetes_node_name], regex: (.+), target_label: __metrics_path__, replacement: '/api/v1/nodes/$1/proxy${metricsPath}'}`;
      writeFileSync(
        path.join(dir, 'prometheus.yml'),
        `global: {scrape_interval: 2s, evaluation_interval: 2s}
scrape_configs:
- job_name: kubernetes-apiservers
  scheme: https
  ${auth}
  file_sd_configs: [{files: [${path.join(dir, 'apiservers.json')}]}]
  relabel_configs:
  - source_labels: [__meta_kubernetes_namespace, __meta_kubernetes_service_name, __meta_kubernetes_endpoint_port_name]
    action: keep
    regex: default;kubernetes;https
${nodeJob('kubernetes-nodes', '/metrics')}
${nodeJob('kubernetes-nodes-cadvisor', '/metrics/cadvisor')}
`,
      );
      const check = run(PROMTOOL, ['check', 'config', path.join(dir, 'prometheus.yml')]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const port = await freePort();
      startProcess(
        cleanup,
        PROMETHEUS,
        [
          `--config.file=${path.join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${path.join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        path.join(dir, 'prometheus.log'),
      );
      const query = (q: string): Array<{ metric: Record<string, string>; value: [number, string] }> => {
        const r = run('curl', [
          '-s',
          '--get',
          '--data-urlencode',
          `query=${q}`,
          `http://127.0.0.1:${port}/api/v1/query`,
        ]);
        try {
          return (
            JSON.parse(r.stdout) as {
              data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
            }
          ).data.result;
        } catch {
          return [];
        }
      };
      await waitFor(() => query('up == 1').length === 3, `three targets up: ${JSON.stringify(query('up'))}`, 60_000);
      let cpu: ReturnType<typeof query> = [];
      await waitFor(
        () => (cpu = query('rate(container_cpu_usage_seconds_total{pod="burn",container="burn"}[10s])')).length > 0,
        "the pod's CPU rate",
        60_000,
      );
      const cores = Number(cpu[0]!.value[1]);
      // The busy loop is limited to 100m: its rate is about a tenth of a core, and surely above nothing.
      assert.ok(cores > 0.02 && cores < 0.5, `CPU rate ${cores}`);
      assert.ok(query('apiserver_request_total{job="kubernetes-apiservers"}').length > 0);
      assert.equal(query(`kubelet_running_pods{job="kubernetes-nodes",kubernetes_io_hostname="${NODE}"}`).length, 1);
    },
  );
});
