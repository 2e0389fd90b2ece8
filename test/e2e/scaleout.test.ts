/**
 * Issue 18: three `gantry server`s on a three-member etcd serve one cluster with one CA; the controllers
 * and the scheduler run on one leader, and another takes over when it is killed in the middle of a
 * scale from 0 to 50; an agent given all three servers fails over; losing one etcd member changes
 * nothing users see. Machines join with a token file alone; wrong, expired and revoked tokens are
 * refused before anything is registered.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  Cleanup,
  joinArgs,
  startNodeDaemon,
  GANTRY,
  kubectlFor,
  run,
  startEtcd,
  startProcess,
  startServer,
  waitFor,
  type ClusterServer,
  type Daemon,
  type EtcdCluster,
} from './helpers.js';

const skip = run('sh', ['-c', 'command -v etcd']).code !== 0 && 'etcd is not installed';

describe('servers on an etcd cluster', { skip }, () => {
  const cleanup = new Cleanup();
  let etcd: EtcdCluster;
  let servers: ClusterServer[];
  let d: Daemon;
  before(async () => {
    etcd = await startEtcd(3);
    cleanup.add(etcd.stop);
    const first = await startServer(cleanup, ['--datastore-endpoint', etcd.endpoint]);
    const join = ['--server', first.url, '--token-file', path.join(first.dir, 'token')];
    servers = [first];
    for (let i = 0; i < 2; i++)
      servers.push(await startServer(cleanup, [...join, '--datastore-endpoint', etcd.endpoint]));
    d = await startNodeDaemon(cleanup);
  });
  after(() => cleanup.run());

  test('the three serve one cluster with one CA; a server with a wrong token is refused', async () => {
    const ca = readFileSync(path.join(servers[0]!.dir, 'tls', 'ca.crt'), 'utf8');
    for (const s of servers) {
      assert.equal(readFileSync(path.join(s.dir, 'tls', 'ca.crt'), 'utf8'), ca);
      const r = run('curl', ['-sS', '--cacert', path.join(servers[0]!.dir, 'tls', 'ca.crt'), `${s.url}/readyz`]);
      assert.equal(r.stdout, 'ok', r.stderr);
      assert.match(kubectlFor(() => s.env).ok(['get', 'namespaces']), /kube-system/);
    }
    // The kubernetes Service leads to every live server (each advertises 127.0.0.1 on its own port).
    const ports = (): string =>
      kubectlFor(() => servers[0]!.env)
        .ok(['get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[*].ports[0].port}'])
        .split(' ')
        .sort()
        .join(' ');
    const want = servers
      .map((s) => String(s.port))
      .sort()
      .join(' ');
    await waitFor(() => ports() === want, 'the kubernetes endpoints to name all three servers', 20000);
    const wrong = path.join(servers[0]!.dir, 'wrong-token');
    writeFileSync(wrong, 'not-the-token\n');
    const r = run(GANTRY, [
      'server',
      '--data-dir',
      path.join(servers[0]!.dir, 'refused'),
      '--https-listen-port',
      '1',
      '--disable-agent',
      '--server',
      servers[0]!.url,
      '--token-file',
      wrong,
      '--datastore-endpoint',
      etcd.endpoint,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the datastore holds no cluster for this token/);
  });

  test('killing the leading server during a scale from 0 to 50: another leads, exactly 50 pods', async () => {
    const node = 'ha-node';
    const urls = servers.map((s) => s.url).join(',');
    startProcess(
      cleanup,
      GANTRY,
      await joinArgs(servers[0]!, d, node, path.join(servers[0]!.dir, 'node-token'), urls),
      path.join(servers[0]!.dir, 'agent.log'),
    );
    const holder = (s: ClusterServer, lease: string): string =>
      kubectlFor(() => s.env).k(['-n', 'kube-system', 'get', 'lease', lease, '-o', 'jsonpath={.spec.holderIdentity}'])
        .stdout;
    const serverOf = (identity: string): number =>
      servers.findIndex((s) => identity.endsWith(`_${readFileSync(path.join(s.dir, 'identity'), 'utf8').trim()}`));
    const { ok } = kubectlFor(() => servers[2]!.env);
    await waitFor(() => new RegExp(`${node}\\s+Ready`).test(ok(['get', 'nodes'])), 'the node Ready', 20000);
    const leader = serverOf(holder(servers[2]!, 'kube-controller-manager'));
    assert.ok(leader >= 0, 'a server leads the controllers');
    const survivor = servers[leader === 2 ? 1 : 2]!;
    const k = kubectlFor(() => survivor.env);
    k.ok(['create', 'deployment', 'ha', '--image=busybox:latest', '--replicas=0', '--', 'sleep', '3600']);
    k.ok(['scale', 'deployment', 'ha', '--replicas=50']);
    servers[leader]!.proc.kill('SIGKILL');
    const killedAt = Date.now();
    const count = (): string[] =>
      k
        .ok([
          'get',
          'pods',
          '-l',
          'app=ha',
          '-o',
          'jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\\n"}{end}',
        ])
        .split('\n')
        .filter(Boolean);
    // kubectl keeps working through the remaining servers while the lease runs out.
    await waitFor(
      () => {
        const h = serverOf(holder(survivor, 'kube-controller-manager'));
        return h >= 0 && h !== leader;
      },
      'another server to lead the controllers',
      25000,
    );
    // Measured to when the new leader took the lease (its acquireTime, written on this machine's clock):
    // the lease runs 15 s from the killed leader's last renewal, which came at most 2 s before the kill.
    const acquired = k.ok([
      '-n',
      'kube-system',
      'get',
      'lease',
      'kube-controller-manager',
      '-o',
      'jsonpath={.spec.acquireTime}',
    ]);
    const handover = Date.parse(acquired) - killedAt;
    assert.ok(handover <= 15500, `the controllers were led again after ${handover} ms`);
    process.stdout.write(`# controller-manager hand-over after SIGKILL: ${handover} ms\n`);
    await waitFor(() => count().length === 50, '50 pods', 60000);
    await waitFor(() => count().every((l) => l.endsWith(' Running')), '50 pods Running', 180000);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(count().length, 50, 'exactly 50, none doubled by two leaders');
    assert.match(ok(['get', 'nodes']), new RegExp(`${node}\\s+Ready`), 'the agent failed over to a live server');

    const endpointPorts = (): string =>
      k.ok(['get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[*].ports[0].port}']);
    await waitFor(
      () => !endpointPorts().split(' ').includes(String(servers[leader]!.port)),
      "the killed server's address out of the kubernetes endpoints",
      30000,
    );
    // One etcd member of three gone: writes and reads go on.
    await etcd.kill(0);
    k.ok(['create', 'configmap', 'after-member-loss', '--from-literal=a=b']);
    assert.equal(k.ok(['get', 'configmap', 'after-member-loss', '-o', 'jsonpath={.data.a}']), 'b');
    k.ok(['scale', 'deployment', 'ha', '--replicas=0']);
    await waitFor(() => count().length === 0, 'the pods to go', 120000);
  });
});
