/**
 * Issue 6 acceptance 2: `@kubernetes/client-node` lists, creates and watches pods, and an informer sees
 * every add, update and delete, recovering after a server restart and after a 410 (compacted history).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Cleanup, freePort, GANTRY, serverArgs, startProcess, tempDir, waitFor } from './helpers.js';
import type { ChildProcess } from 'node:child_process';

describe('@kubernetes/client-node against the API server', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let port: number;
  let server: ChildProcess;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;

  const start = async (): Promise<void> => {
    server = startProcess(
      cleanup,
      GANTRY,
      serverArgs(dir, port, ['--etcd-compaction-interval', '1', '--disable-controller-manager']),
      path.join(dir, 'server.log'),
    );
    await waitFor(
      async () => {
        try {
          await core.listNamespace();
          return true;
        } catch {
          return false;
        }
      },
      'the API server',
      30000,
    );
  };

  before(async () => {
    dir = tempDir(cleanup);
    port = await freePort();
    server = startProcess(
      cleanup,
      GANTRY,
      serverArgs(dir, port, ['--etcd-compaction-interval', '1', '--disable-controller-manager']),
      path.join(dir, 'server.log'),
    );
    await waitFor(() => existsSync(path.join(dir, 'kubeconfig.yaml')), 'the kubeconfig', 30000);
    kc = new k8s.KubeConfig();
    kc.loadFromFile(path.join(dir, 'kubeconfig.yaml'));
    core = kc.makeApiClient(k8s.CoreV1Api);
  });
  after(() => cleanup.run());

  const pod = (name: string, image = 'busybox'): k8s.V1Pod => ({
    metadata: { name, labels: { app: 'client' } },
    spec: { containers: [{ name: 'main', image }] },
  });

  test('list, create, watch', async () => {
    const created = await core.createNamespacedPod({ namespace: 'default', body: pod('first') });
    assert.equal(created.metadata?.name, 'first');
    assert.equal(created.spec?.restartPolicy, 'Always', 'defaults applied');
    const list = await core.listNamespacedPod({ namespace: 'default' });
    assert.deepEqual(
      list.items.map((p) => p.metadata?.name),
      ['first'],
    );
    const events: string[] = [];
    const watch = new k8s.Watch(kc);
    const req = await watch.watch(
      '/api/v1/namespaces/default/pods',
      { resourceVersion: list.metadata?.resourceVersion },
      (type, obj: k8s.V1Pod) => events.push(`${type} ${obj.metadata?.name}`),
      () => undefined,
    );
    await core.createNamespacedPod({ namespace: 'default', body: pod('second') });
    await core.patchNamespacedPod(
      { namespace: 'default', name: 'second', body: { metadata: { labels: { changed: 'yes' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedPod({ namespace: 'default', name: 'second' });
    try {
      await waitFor(() => events.length >= 3, 'three watch events', 10000);
      assert.deepEqual(events, ['ADDED second', 'MODIFIED second', 'DELETED second']);
    } finally {
      req.abort();
    }
  });

  test('an informer sees every change, and recovers after a restart and after a 410', async () => {
    const seen: string[] = [];
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/pods', () =>
      core.listNamespacedPod({ namespace: 'default' }),
    );
    informer.on('add', (p: k8s.V1Pod) => seen.push(`add ${p.metadata?.name}`));
    informer.on('update', (p: k8s.V1Pod) => seen.push(`update ${p.metadata?.name}`));
    informer.on('delete', (p: k8s.V1Pod) => seen.push(`delete ${p.metadata?.name}`));
    let errors = 0;
    let stopped = false;
    informer.on('error', () => {
      errors++;
      // As client-node's documentation says: start again after an error (it lists afresh).
      setTimeout(() => {
        if (!stopped) void informer.start().catch(() => undefined);
      }, 500);
    });
    cleanup.add(() => {
      stopped = true;
      void informer.stop();
    });
    await informer.start();
    await waitFor(() => seen.includes('add first'), 'the initial list', 10000);
    await core.createNamespacedPod({ namespace: 'default', body: pod('third') });
    await core.patchNamespacedPod(
      { namespace: 'default', name: 'third', body: { metadata: { labels: { v: '2' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedPod({ namespace: 'default', name: 'third' });
    await waitFor(() => seen.includes('delete third'), 'add, update and delete of third', 10000);
    assert.deepEqual(
      seen.filter((s) => s.endsWith('third')),
      ['add third', 'update third', 'delete third'],
    );

    // Restart the server (kill -9): the informer errors, starts again, and sees what changed meanwhile.
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
    await start();
    await core.createNamespacedPod({ namespace: 'default', body: pod('after-restart') });
    await waitFor(() => seen.includes('add after-restart'), 'an add after the restart', 20000);
    assert.ok(errors >= 1, 'the informer noticed the restart');

    // A watch from a compacted revision gets 410 Gone.
    const old = (await core.listNamespacedPod({ namespace: 'default' })).metadata!.resourceVersion!;
    for (let i = 0; i < 3; i++)
      await core.patchNamespacedPod(
        { namespace: 'default', name: 'first', body: { metadata: { labels: { i: String(i) } } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    await new Promise((r) => setTimeout(r, 2500));
    let gone: unknown;
    const watch = new k8s.Watch(kc);
    await new Promise<void>((resolve) => {
      void watch
        .watch(
          '/api/v1/namespaces/default/pods',
          { resourceVersion: old },
          (type, obj: { code?: number }) => {
            if (type === 'ERROR') gone = obj.code;
          },
          () => resolve(),
        )
        .catch(() => resolve());
    });
    assert.equal(gone, 410);
    stopped = true;
    await informer.stop();
  });
});
