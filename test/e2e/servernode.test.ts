/**
 * Issue 13: `gantry server` alone is a one-node cluster, as k3s's server is — it runs an engine and a
 * node agent beside the control plane (`--disable-agent` turns them off), so one command gives a
 * Ready node that runs pods. kubectl 1.33.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  Cleanup,
  freePort,
  GANTRY,
  hasKubectl,
  kubectl,
  reapContainers,
  run,
  seedRegistry,
  startProcess,
  startRegistry,
  tempDir,
  waitFor,
} from './helpers.js';

describe('gantry server runs its own node', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  const nodeName = `srv-${randomBytes(3).toString('hex')}`;
  let dir: string;
  let env: Record<string, string>;
  let server: ReturnType<typeof startProcess>;
  const ok = (args: string[]): string => {
    const r = run(kubectl, args, { env });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    dir = tempDir(cleanup, 'gantry-servernode-');
    const node = path.join(dir, 'node');
    // Runs after the server has stopped: its containers outlive it by design; the test's must go.
    cleanup.add(async () => {
      await reapContainers(path.join(node, 'engine'), path.join(node, 'run'));
      // The engine's bridges (its default one and the pod network's), read from its network records.
      const records = path.join(node, 'engine', 'network', 'networks');
      for (const f of existsSync(records) ? readdirSync(records) : []) {
        const rec = JSON.parse(readFileSync(path.join(records, f), 'utf8')) as { Options?: Record<string, string> };
        const bridge = rec.Options?.['com.docker.network.bridge.name'];
        if (bridge) run('ip', ['link', 'del', bridge]);
      }
    });
    const port = await freePort();
    env = { ...(process.env as Record<string, string>), KUBECONFIG: path.join(dir, 'kubeconfig.yaml') };
    server = startProcess(
      cleanup,
      GANTRY,
      ['server', '--data-dir', dir, '--https-listen-port', String(port), '--bind-address', '127.0.0.1']
        .concat(['--node-name', nodeName, '--cluster-cidr', `10.${randomInt(100, 250)}.0.0/16`])
        .concat(['--registry-mirror', `http://${reg.addr}`, '--insecure-registry', reg.addr]),
      path.join(dir, 'server.log'),
    );
    await waitFor(
      () =>
        existsSync(path.join(dir, 'kubeconfig.yaml')) &&
        new RegExp(`${nodeName}\\s+Ready\\s+control-plane`).test(run(kubectl, ['get', 'nodes'], { env }).stdout),
      `node ${nodeName} Ready`,
      60_000,
    );
  });
  after(() => cleanup.run());

  test('one command: the node is Ready and runs pods', async () => {
    ok(['run', 'one', '--image=busybox', '--', 'sleep', '3600']);
    await waitFor(
      () => run(kubectl, ['get', 'pod', 'one', '-o', 'jsonpath={.status.phase}'], { env }).stdout === 'Running',
      'the pod Running',
      60_000,
    );
    assert.equal(ok(['get', 'pod', 'one', '-o', 'jsonpath={.spec.nodeName}']), nodeName);
    ok(['delete', 'pod', 'one', '--grace-period=0', '--force']);
  });

  test('stopping the server stops its engine too', async () => {
    const enginePid = readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, 'utf8').trim().split(' ')[0];
    server.kill('SIGTERM');
    await waitFor(() => server.exitCode !== null, 'the server to exit', 30_000);
    assert.ok(enginePid, 'the server had an engine child');
    await waitFor(() => !existsSync(`/proc/${enginePid}`), 'its engine to exit', 30_000);
  });
});

describe('gantry server --disable-agent', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  test('runs no node', async () => {
    const cleanup = new Cleanup();
    try {
      const dir = tempDir(cleanup, 'gantry-servernode-');
      const port = await freePort();
      startProcess(
        cleanup,
        GANTRY,
        ['server', '--data-dir', dir, '--https-listen-port', String(port), '--bind-address', '127.0.0.1'].concat([
          '--disable-agent',
        ]),
        path.join(dir, 'server.log'),
      );
      const env = { ...(process.env as Record<string, string>), KUBECONFIG: path.join(dir, 'kubeconfig.yaml') };
      await waitFor(() => existsSync(path.join(dir, 'kubeconfig.yaml')), 'the server', 30_000);
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(run(kubectl, ['get', 'nodes', '--no-headers'], { env }).stdout.trim(), '');
      assert.ok(!existsSync(path.join(dir, 'node')), 'no engine state');
    } finally {
      await cleanup.run();
    }
  });
});
