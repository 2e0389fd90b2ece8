/**
 * Issue 12, node IPAM: `--cluster-cidr` is handed out a /24 per Node by the controller manager, the
 * agent makes its pod network from its range, pods get addresses in it and reach the cluster DNS through
 * the engine's embedded DNS (which forwards to a container's `--dns` servers, as Docker's does); a
 * node's range never changes; `spec.nodeName=` selects unscheduled pods. kubectl 1.33.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import {
  Cleanup,
  hasKubectl,
  kubectl,
  run,
  startOneNodeCluster,
  waitFor,
  type ClusterServer,
  type Daemon,
} from './helpers.js';

describe('node IPAM and the pod network', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  // A /16 of its own, so parallel tests and the user's networks are never touched.
  const second = randomInt(100, 200);
  const clusterCidr = `10.${second}.0.0/16`;
  let d: Daemon;
  let server: ClusterServer;
  const k = (args: string[]): { code: number; stdout: string; stderr: string } =>
    run(kubectl, args, { env: server.env });
  const ok = (args: string[]): string => {
    const r = k(args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    ({ d, server } = await startOneNodeCluster(cleanup, 'ipam-1', ['--cluster-cidr', clusterCidr]));
  });
  after(() => cleanup.run());

  test('each node gets its own /24; the agent builds the pod network from it; pods are addressed in it', async () => {
    const podCidr = (node: string): string => ok(['get', 'node', node, '-o', 'jsonpath={.spec.podCIDR}']);
    await waitFor(() => podCidr('ipam-1') !== '', 'a podCIDR', 10000);
    assert.equal(podCidr('ipam-1'), `10.${second}.0.0/24`);
    assert.equal(ok(['get', 'node', 'ipam-1', '-o', 'jsonpath={.spec.podCIDRs}']), `["10.${second}.0.0/24"]`);
    // A second node (no agent) gets the next range, a third the one after.
    for (const name of ['ipam-2', 'ipam-3']) {
      const r = run(kubectl, ['create', '-f', '-'], {
        env: server.env,
        input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } }),
      });
      assert.equal(r.code, 0, r.stderr);
    }
    await waitFor(() => podCidr('ipam-3') !== '', 'the other nodes ranges', 10000);
    assert.deepEqual([podCidr('ipam-2'), podCidr('ipam-3')].sort(), [`10.${second}.1.0/24`, `10.${second}.2.0/24`]);
    // A range is never changed once set.
    const patched = k(['patch', 'node', 'ipam-2', '--type=merge', '-p', `{"spec":{"podCIDR":"10.${second}.9.0/24"}}`]);
    assert.notEqual(patched.code, 0);
    assert.match(patched.stderr, /node updates may not change podCIDR/);
    assert.match(
      k(['patch', 'node', 'ipam-1', '--type=merge', '-p', '{"spec":{"podCIDR":"10.1.2.3/24"}}']).stderr,
      /spec.podCIDR/,
    );

    // The engine network the agent made holds exactly the node's range; pods get addresses from it.
    assert.equal(
      run('docker', ['network', 'inspect', 'k8s-pods', '-f', '{{(index .IPAM.Config 0).Subnet}}'], {
        env: d.env,
      }).stdout.trim(),
      `10.${second}.0.0/24`,
    );
    ok([
      'run',
      'net1',
      '--image=busybox',
      '--overrides={"spec":{"nodeSelector":{"kubernetes.io/hostname":"ipam-1"}}}',
      '--',
      'sleep',
      '3600',
    ]);
    await waitFor(() => ok(['get', 'pod', 'net1', '-o', 'jsonpath={.status.podIP}']) !== '', 'the pod IP', 60000);
    const ip = ok(['get', 'pod', 'net1', '-o', 'jsonpath={.status.podIP}']);
    assert.match(ip, new RegExp(`^10\\.${second}\\.0\\.\\d+$`));
    // Names of the cluster resolve from the pod: the embedded DNS forwards to the pod's --dns (the cluster DNS).
    const pod = run(
      'docker',
      [
        'ps',
        '-q',
        '--filter',
        'label=io.kubernetes.pod.name=net1',
        '--filter',
        'label=io.kubernetes.container.name=net1',
      ],
      { env: d.env },
    ).stdout.trim();
    assert.ok(pod, 'the pod container');
    await waitFor(
      () =>
        run('docker', ['exec', pod, 'nslookup', 'kubernetes.default.svc.cluster.local'], {
          env: d.env,
        }).stdout.includes(ok(['get', 'svc', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}'])),
      'the kubernetes Service to resolve',
      20000,
    );
  });

  test('field selectors with empty values: spec.nodeName= lists the pods not yet scheduled', async () => {
    ok([
      'run',
      'nowhere',
      '--image=busybox',
      '--overrides={"spec":{"nodeSelector":{"no-such":"label"}}}',
      '--',
      'true',
    ]);
    await waitFor(
      () => ok(['get', 'pod', 'net1', '-o', 'jsonpath={.spec.nodeName}']) === 'ipam-1',
      'net1 scheduled',
      20000,
    );
    assert.equal(ok(['get', 'pods', '--field-selector', 'spec.nodeName=', '-o', 'name']).trim(), 'pod/nowhere');
    assert.equal(ok(['get', 'pods', '--field-selector', 'spec.nodeName!=', '-o', 'name']).trim(), 'pod/net1');
    ok(['delete', 'pod', 'nowhere', 'net1', '--grace-period=1']);
  });
});
