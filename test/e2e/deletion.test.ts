/**
 * Issue 12: deletion is finished by controllers, so it survives the server. `gantry server` is killed
 * with SIGKILL while it deletes a namespace of 200 objects and while a foreground cascade waits for its
 * dependents; after a restart on the same state both finish. Also: `--controllers` as
 * kube-controller-manager takes it, and the default ServiceAccount made again when deleted.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  Cleanup,
  freePort,
  GANTRY,
  hasKubectl,
  kubectl,
  run,
  startServer,
  tempDir,
  waitFor,
  type ClusterServer,
} from './helpers.js';

const HOLD = 'example.com/hold';

describe('deletion across a server crash', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  const client = (server: ClusterServer) => {
    const k = (args: string[]): { code: number; stdout: string; stderr: string } =>
      run(kubectl, args, { env: server.env });
    const ok = (args: string[]): string => {
      const r = k(args);
      assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    return { k, ok };
  };

  const kill = async (server: ClusterServer): Promise<void> => {
    const exited = new Promise<void>((resolve) => server.proc.once('exit', () => resolve()));
    server.proc.kill('SIGKILL');
    await exited;
  };

  test('a namespace of 200 objects and a foreground cascade both finish after SIGKILL and restart', async () => {
    const dir = tempDir(cleanup);
    const port = await freePort();
    let server = await startServer(cleanup, ['--disable-controller-manager'], { dir, port });
    let { k, ok } = client(server);

    // 200 objects in one namespace, one of them held by a finalizer so the deletion is surely unfinished.
    ok(['create', 'namespace', 'bulk']);
    const items = Array.from({ length: 200 }, (_, i) => ({
      apiVersion: 'v1',
      kind: i % 2 ? 'ConfigMap' : 'Secret',
      metadata: { name: `item-${i}`, namespace: 'bulk', ...(i === 7 ? { finalizers: [HOLD] } : {}) },
      data: {},
    }));
    const bulk = path.join(dir, 'bulk.json');
    writeFileSync(bulk, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    ok(['create', '-f', bulk]);

    // An owner with 30 dependents, one held, deleted in the foreground: it waits with its finalizer.
    ok(['create', 'configmap', 'root']);
    const uid = ok(['get', 'cm', 'root', '-o', 'jsonpath={.metadata.uid}']);
    const dependents = Array.from({ length: 30 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: `leaf-${i}`,
        namespace: 'default',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'root', uid, blockOwnerDeletion: true }],
        ...(i === 3 ? { finalizers: [HOLD] } : {}),
      },
    }));
    const leaves = path.join(dir, 'leaves.json');
    writeFileSync(leaves, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: dependents }));
    ok(['create', '-f', leaves]);

    ok(['delete', 'namespace', 'bulk', '--wait=false']);
    ok(['delete', 'configmap', 'root', '--cascade=foreground', '--wait=false']);
    // Killed mid-way: the controllers have begun (or not) and hold nothing that survives them.
    await new Promise((r) => setTimeout(r, 150));
    await kill(server);

    server = await startServer(cleanup, ['--disable-controller-manager'], { dir, port });
    ({ k, ok } = client(server));
    assert.match(ok(['get', 'ns', 'bulk']), /bulk\s+Terminating/);
    assert.match(ok(['get', 'cm', 'root', '-o', 'jsonpath={.metadata.finalizers}']), /foregroundDeletion/);
    await waitFor(
      () => ok(['-n', 'bulk', 'get', 'cm,secret', '-o', 'name']).trim() === 'configmap/item-7',
      'the namespace emptied but for the held object',
      20000,
    );
    await waitFor(
      () =>
        ok(['get', 'cm', '-o', 'name'])
          .trim()
          .split('\n')
          .filter((n) => n !== 'configmap/kube-root-ca.crt')
          .sort()
          .join(' ') === 'configmap/leaf-3 configmap/root',
      'the dependents deleted but for the held one, the owner waiting',
      20000,
    );

    // Killed again while both wait; then the holds are lifted and both finish.
    await kill(server);
    server = await startServer(cleanup, ['--disable-controller-manager'], { dir, port });
    ({ k, ok } = client(server));
    ok(['-n', 'bulk', 'patch', 'cm', 'item-7', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    ok(['patch', 'cm', 'leaf-3', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await waitFor(() => k(['get', 'ns', 'bulk']).code !== 0, 'the namespace to go', 20000);
    await waitFor(() => k(['get', 'cm', 'root']).code !== 0, 'the owner to go after its dependents', 20000);
    // What is left is the root CA every namespace has.
    assert.equal(ok(['get', 'cm', '-o', 'name']).trim(), 'configmap/kube-root-ca.crt');
  });

  test('--controllers selects as kube-controller-manager does; the default ServiceAccount comes back', async () => {
    const bad = run(GANTRY, ['server', '--data-dir', tempDir(cleanup), '--controllers', '*,-nosuch']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /"nosuch" is not in the list of known controllers/);

    const server = await startServer(cleanup, ['--controllers', '*,-serviceaccount', '--disable-scheduler']);
    const { k, ok } = client(server);
    ok(['create', 'namespace', 'quiet']);
    await new Promise((r) => setTimeout(r, 1500));
    assert.notEqual(k(['-n', 'quiet', 'get', 'sa', 'default']).code, 0, 'no ServiceAccount controller, no default');
    // The garbage collector still runs: a dependent of a deleted owner goes.
    ok(['create', 'configmap', 'owner']);
    const uid = ok(['get', 'cm', 'owner', '-o', 'jsonpath={.metadata.uid}']);
    const file = path.join(server.dir, 'dep.json');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'dep', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid }] },
      }),
    );
    ok(['create', '-f', file]);
    ok(['delete', 'cm', 'owner']);
    await waitFor(() => k(['get', 'cm', 'dep']).code !== 0, 'the dependent to be collected', 10000);

    const full = await startServer(cleanup, ['--disable-scheduler']);
    const f = client(full);
    await waitFor(() => f.k(['get', 'sa', 'default']).code === 0, 'the default ServiceAccount', 10000);
    f.ok(['delete', 'sa', 'default']);
    await waitFor(() => f.k(['get', 'sa', 'default']).code === 0, 'the default ServiceAccount made again', 10000);
  });
});
