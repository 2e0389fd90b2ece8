import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { KubeletMetrics } from './metrics.js';

const runtime = { nodeContainers: () => Promise.resolve([]) };

async function startCount(registry: Registry): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'kubelet_pod_start_duration_seconds');
  return (m?.values ?? []).find((v) => (v as { metricName?: string }).metricName?.endsWith('_count'))?.value ?? 0;
}

test('kubelet_pod_start_duration_seconds: once per pod the agent started, never for one found running', async () => {
  const registry = new Registry();
  const m = new KubeletMetrics(registry, 'n1', runtime);
  m.podSynced('made', 0.1, true, false);
  m.podSynced('made', 0.1, false, true);
  m.podSynced('made', 0.1, false, true);
  assert.equal(await startCount(registry), 1, 'observed when it first runs, once');
  m.podSynced('found', 0.1, false, true);
  assert.equal(await startCount(registry), 1, 'a pod running before this agent saw it is not a start');
  m.podSynced('waiting', 0.1, false, false);
  m.podSynced('waiting', 0.1, true, true);
  assert.equal(
    await startCount(registry),
    2,
    'a pod that waited (a volume) before its sandbox counts from first sight',
  );
});
