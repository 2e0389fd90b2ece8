/**
 * The controllers inside `gantry server` (Deployments, ReplicaSets), driven with kubectl 1.33. Neither
 * the scheduler nor a node agent runs here: the tests mark pods Ready through the status subresource,
 * as a node agent would (test/e2e/cluster.test.ts runs the whole chain).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanup, hasKubectl, kubectl, run, startServer, waitFor, type ClusterServer } from './helpers.js';

describe('controllers', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  const k = (args: string[]): { code: number; stdout: string; stderr: string } =>
    run(kubectl, args, { env: server.env });
  const ok = (args: string[]): string => {
    const r = k(args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const names = (args: string[]): string[] =>
    ok([...args, '-o', 'jsonpath={.items[*].metadata.name}'])
      .split(' ')
      .filter(Boolean);
  /** What a node agent would report: every pod of `app` running and Ready. */
  const markReady = (app: string): void => {
    for (const pod of names(['get', 'pods', '-l', `app=${app}`])) {
      k([
        'patch',
        'pod',
        pod,
        '--subresource=status',
        '--type=merge',
        '-p',
        '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}',
      ]);
    }
  };

  before(async () => {
    server = await startServer(cleanup, ['--disable-scheduler']);
  });
  after(() => cleanup.run());

  test('a Deployment makes a ReplicaSet that makes its pods; scaling follows; deleting removes them all', async () => {
    assert.equal(
      ok(['create', 'deployment', 'kubia', '--image=kubia:v1', '--replicas=3']),
      'deployment.apps/kubia created\n',
    );
    await waitFor(() => names(['get', 'pods', '-l', 'app=kubia']).length === 3, 'three pods', 10000);
    const [rs] = names(['get', 'rs', '-l', 'app=kubia']);
    assert.match(rs!, /^kubia-[bcdfghjklmnpqrstvwxz2456789]+$/);
    assert.equal(
      ok(['get', 'rs', rs!, '-o', 'jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}']),
      'Deployment/kubia',
    );
    for (const pod of names(['get', 'pods', '-l', 'app=kubia'])) {
      assert.match(pod, new RegExp(`^${rs}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
      assert.equal(ok(['get', 'pod', pod, '-o', 'jsonpath={.metadata.ownerReferences[0].name}']), rs);
    }
    await waitFor(() => /kubia\s+0\/3\s+3\s+0/.test(ok(['get', 'deploy', 'kubia'])), 'the status counts', 10000);
    ok(['scale', 'deployment', 'kubia', '--replicas=1']);
    await waitFor(() => names(['get', 'pods', '-l', 'app=kubia']).length === 1, 'one pod left', 10000);
    markReady('kubia');
    await waitFor(
      () => /kubia\s+1\/1\s+1\s+1/.test(ok(['get', 'deploy', 'kubia'])),
      'the deployment to be available',
      10000,
    );
    ok(['delete', 'deployment', 'kubia']);
    await waitFor(() => !names(['get', 'rs,pods', '-l', 'app=kubia']).length, 'the set and pods to go', 10000);
  });

  test('rolling update: a new ReplicaSet comes up as old pods go; rollout status, history and undo', async () => {
    ok(['create', 'deployment', 'web', '--image=web:v1', '--replicas=2']);
    await waitFor(() => names(['get', 'pods', '-l', 'app=web']).length === 2, 'two pods', 10000);
    markReady('web');
    await waitFor(() => /web\s+2\/2/.test(ok(['get', 'deploy', 'web'])), 'web available', 10000);
    const [first] = names(['get', 'rs', '-l', 'app=web']);
    ok(['set', 'image', 'deploy/web', 'web=web:v2']);
    await waitFor(() => names(['get', 'rs', '-l', 'app=web']).length === 2, 'a second ReplicaSet', 10000);
    // Nothing new is Ready, so the old pods stay (maxUnavailable 25% of 2 is 0).
    assert.equal(ok(['get', 'rs', first!, '-o', 'jsonpath={.spec.replicas}']), '2');
    await waitFor(
      () => {
        markReady('web');
        return (
          ok(['get', 'rs', first!, '-o', 'jsonpath={.spec.replicas}']) === '0' &&
          /web\s+2\/2\s+2\s+2/.test(ok(['get', 'deploy', 'web']))
        );
      },
      'the rollout to finish',
      20000,
    );
    assert.match(ok(['rollout', 'status', 'deploy/web', '--timeout=10s']), /deployment "web" successfully rolled out/);
    assert.match(ok(['rollout', 'history', 'deploy/web']), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    ok(['rollout', 'undo', 'deploy/web']);
    await waitFor(
      () => {
        markReady('web');
        return (
          ok(['get', 'rs', first!, '-o', 'jsonpath={.spec.replicas}']) === '2' &&
          ok(['get', 'deploy', 'web', '-o', 'jsonpath={.status.updatedReplicas}/{.status.availableReplicas}']) === '2/2'
        );
      },
      'the undo to bring the first ReplicaSet back',
      20000,
    );
    assert.equal(names(['get', 'rs', '-l', 'app=web']).length, 2, 'the undo reuses the first ReplicaSet');
    assert.equal(
      ok(['get', 'rs', first!, '-o', 'jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}']),
      '3',
    );
    assert.equal(ok(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']), 'web:v1');
    ok(['delete', 'deployment', 'web', '--cascade=foreground']);
    assert.deepEqual(names(['get', 'rs,pods', '-l', 'app=web']), []);
  });

  test('a ReplicaSet replaces a deleted pod; the controllers resume after a kill -9 of the server', async () => {
    ok(['create', 'deployment', 'keep', '--image=keep', '--replicas=2']);
    await waitFor(() => names(['get', 'pods', '-l', 'app=keep']).length === 2, 'two pods', 10000);
    const [victim] = names(['get', 'pods', '-l', 'app=keep']);
    ok(['delete', 'pod', victim!]);
    await waitFor(
      () => {
        const pods = names(['get', 'pods', '-l', 'app=keep']);
        return pods.length === 2 && !pods.includes(victim!);
      },
      'a replacement pod',
      10000,
    );
    server.proc.kill('SIGKILL');
    await new Promise((r) => server.proc.once('exit', r));
    server = await startServer(cleanup, ['--disable-scheduler'], { dir: server.dir, port: server.port });
    ok(['scale', 'deployment', 'keep', '--replicas=4']);
    await waitFor(() => names(['get', 'pods', '-l', 'app=keep']).length === 4, 'four pods after the restart', 15000);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(names(['get', 'pods', '-l', 'app=keep']).length, 4, 'and no more');
    ok(['delete', 'deployment', 'keep']);
  });
});
