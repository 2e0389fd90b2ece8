/**
 * Issue 18: `gantry cluster up --nodes 3 --servers 3` runs an etcd member and an API server on each of
 * three network-namespace nodes. With the first node's server and etcd member killed, another server
 * leads the controllers and scheduler, the agents (given every server) stay Ready, and a Deployment
 * made through a remaining server runs; `cluster down` leaves no etcd or server behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Cleanup, GANTRY, hasKubectl, kubectl, run, seedRegistry, startRegistry, tempDir, waitFor } from './helpers.js';
import { freeRanges, leftovers } from './localcluster.js';

const skip =
  (!hasKubectl && 'kubectl is not installed') ||
  (run('sh', ['-c', 'command -v etcd']).code !== 0 && 'etcd is not installed');

describe('gantry cluster up --servers 3', { skip }, () => {
  const cleanup = new Cleanup();
  const name = `ha${randomBytes(3).toString('hex')}`;
  const { subnet, clusterCidr } = freeRanges();
  let dataDir: string;
  let env: Record<string, string>;
  let upOutput = '';
  const gantry = (args: string[]): { code: number; stdout: string; stderr: string } =>
    run(GANTRY, args, { env, timeoutMs: 180_000 });
  const urls: string[] = [];
  const ok = (server: string, args: string[]): string => {
    const r = run(kubectl, ['--server', server, ...args], { env });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    const root = tempDir(cleanup, 'gantry-hacluster-');
    dataDir = path.join(root, 'cluster');
    env = {
      ...(process.env as Record<string, string>),
      GANTRY_CLUSTER_INDEX: path.join(root, 'index'),
      KUBECONFIG: path.join(dataDir, 'kubeconfig.yaml'),
    };
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    const port = reg.addr.split(':')[1]!;
    cleanup.add(() => {
      if (existsSync(path.join(dataDir, 'cluster.json'))) gantry(['cluster', 'down', '--name', name]);
    });
    const up = gantry(
      ['cluster', 'up', '--nodes', '3', '--servers', '3', '--name', name, '--data-dir', dataDir, '--subnet', subnet]
        .concat(['--cluster-cidr', clusterCidr, '--node-monitor-grace-period', '10s', '--no-kubeconfig'])
        .concat(['--host-registry-port', port, '--registry-mirror', `http://127.0.0.1:${port}`]),
    );
    assert.equal(up.code, 0, up.stderr);
    upOutput = up.stdout;
    const m = /API servers (\S+), (\S+), (\S+)\n/.exec(up.stdout);
    assert.ok(m, up.stdout);
    urls.push(m[1]!, m[2]!, m[3]!);
  });
  after(() => cleanup.run());

  test('every server answers; with the first server and etcd member killed, the cluster goes on', async () => {
    for (const url of urls) assert.match(ok(url, ['get', 'nodes']), new RegExp(`${name}-m03\\s+Ready`));
    const record = JSON.parse(readFileSync(path.join(dataDir, 'cluster.json'), 'utf8')) as {
      server: { pid: number };
      etcd: Array<{ pid: number }>;
    };
    assert.equal(record.etcd.length, 3);
    const holder = (url: string): string =>
      run(
        kubectl,
        [
          '--server',
          url,
          '-n',
          'kube-system',
          'get',
          'lease',
          'kube-controller-manager',
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ],
        { env },
      ).stdout;
    assert.match(holder(urls[1]!), new RegExp(`^${name}_`), 'the first server leads');
    // The kubeconfig names the load balancer on the host's loopback, which stands before all three.
    const lb = /Load balancer before them \(the kubeconfig's server\): (\S+)\n/.exec(upOutput)?.[1];
    assert.match(lb ?? '', /^https:\/\/127\.0\.0\.1:\d+$/, upOutput);
    assert.match(readFileSync(env.KUBECONFIG!, 'utf8'), new RegExp(`server: ${lb}`));
    const viaKubeconfig = (args: string[]): string => {
      const r = run(kubectl, args, { env });
      assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    assert.match(viaKubeconfig(['get', 'nodes']), new RegExp(`${name}-m03\\s+Ready`));
    process.kill(record.server.pid, 'SIGKILL');
    process.kill(record.etcd[0]!.pid, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(() => /-m0[23]_/.test(holder(urls[1]!)), 'another server to lead', 30000);
    process.stdout.write(`# hand-over after SIGKILL: ${Date.now() - killedAt} ms\n`);
    // kubectl with the cluster's kubeconfig goes on through the load balancer to the servers left.
    viaKubeconfig(['create', 'deployment', 'after', '--image=busybox:latest', '--replicas=3', '--', 'sleep', '3600']);
    await waitFor(
      () =>
        ok(urls[2]!, ['get', 'pods', '-l', 'app=after', '-o', 'jsonpath={.items[*].status.phase}']) ===
        'Running Running Running',
      'three pods Running',
      90000,
    );
    // Past the grace period (10 s): the agents renew through the remaining servers.
    await new Promise((r) => setTimeout(r, 12000));
    const nodes = ok(urls[2]!, ['get', 'nodes', '--no-headers']);
    assert.equal(nodes.split('\n').filter((l) => /\sReady\s/.test(l)).length, 3, nodes);
  });

  test('down leaves no etcd member or server', () => {
    const record = JSON.parse(readFileSync(path.join(dataDir, 'cluster.json'), 'utf8')) as { apiLb: { pid: number } };
    const down = gantry(['cluster', 'down', '--name', name]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(leftovers('ps', ['-eo', 'args'], dataDir), []);
    assert.equal(existsSync(dataDir), false);
    // Gone, or a zombie its adoptive parent has yet to reap (cluster up, its parent, exited long ago).
    const state = run('ps', ['-o', 'stat=', '-p', String(record.apiLb.pid)]).stdout.trim();
    assert.ok(state === '' || state.startsWith('Z'), `the load balancer stopped (state ${state})`);
  });
});
