/**
 * Pod I/O on a one-node cluster with real containers: `kubectl port-forward` (kubectl 1.33 tunnels SPDY
 * in a WebSocket, 1.27 upgrades to SPDY) to a pod, a deployment and a service, several ports and
 * concurrent connections, reaching a server bound to the pod's loopback; `exec` over SPDY (1.27) and
 * WebSocket (1.33) with stdin and exit codes; `exec -it` typed into tmux with the terminal's size;
 * `attach` with stdin; `cp` both ways; the Python client's `stream` exec and port-forward.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  Cleanup,
  kubectlFor,
  hasKubectl,
  kubectl,
  kubectl127,
  run,
  startOneNodeCluster,
  tempDir,
  waitFor,
  type ClusterServer,
} from './helpers.js';

const PYTHON = '/usr/bin/python3';
const hasPythonClient = existsSync(PYTHON) && run(PYTHON, ['-c', 'import kubernetes']).code === 0;

describe('pod I/O', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  const { k, ok } = kubectlFor(() => server.env);
  const get = (port: number, p = '/'): Promise<string> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });

  /** Start `kubectl port-forward`; answers the local ports it printed, in order, and what it printed. */
  async function portForward(
    args: string[],
    count: number,
    bin = kubectl,
    output?: (text: () => string) => void,
  ): Promise<number[]> {
    const child: ChildProcess = spawn(bin, ['port-forward', ...args], {
      env: { ...process.env, ...server.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanup.add(() => {
      child.kill();
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    output?.(() => out);
    await waitFor(
      () => (out.match(/Forwarding from 127\.0\.0\.1:\d+/g) ?? []).length >= count,
      `port-forward: ${out}`,
      20_000,
    );
    return [...out.matchAll(/Forwarding from 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  }

  before(async () => {
    ({ server } = await startOneNodeCluster(cleanup, 'io-1'));
    ok(
      ['apply', '-f', '-'],
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        # One server on the pod's loopback only, one on every address.
        command: [sh, -c, 'mkdir -p /www /pub && echo inside > /www/index.html && echo public > /pub/index.html && httpd -p 127.0.0.1:8080 -h /www && httpd -f -p 9090 -h /pub']
        ports: [{containerPort: 9090, name: pub}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: pub}]}
---
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    stdin: true
    command: [sh, -c, 'echo ready; while read line; do echo "got:$line"; done']
`,
    );
    ok(['rollout', 'status', 'deploy/web', '--timeout=90s']);
    ok(['wait', '--for=condition=Ready', 'pod/talker', '--timeout=90s']);
  });
  after(() => cleanup.run());

  const webPod = (): string => ok(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}']);

  for (const [name, bin] of [
    ['1.33 (SPDY in a WebSocket)', kubectl],
    ['1.27 (SPDY)', kubectl127],
  ] as const)
    test(`port-forward with kubectl ${name}: pod loopback, several ports, concurrent connections`, async () => {
      const [inside, pub] = await portForward([`pod/${webPod()}`, ':8080', ':9090'], 2, bin);
      assert.equal(await get(inside!), 'inside\n');
      const bodies = await Promise.all(Array.from({ length: 20 }, (_, i) => get(i % 2 ? pub! : inside!)));
      assert.deepEqual(
        bodies,
        Array.from({ length: 20 }, (_, i) => (i % 2 ? 'public\n' : 'inside\n')),
      );
    });

  test('port-forward to a deployment and to a service (its target port by name)', async () => {
    const [viaDeploy] = await portForward(['deploy/web', ':8080'], 1);
    assert.equal(await get(viaDeploy!), 'inside\n');
    const [viaService] = await portForward(['svc/web', ':80'], 1);
    assert.equal(await get(viaService!), 'public\n');
  });

  test("a port nothing listens on: the connection fails with the kubelet's error", async () => {
    let output = (): string => '';
    const [dead] = await portForward([`pod/${webPod()}`, ':7000'], 1, kubectl, (o) => (output = o));
    await assert.rejects(get(dead!));
    await waitFor(
      () =>
        /error forwarding port 7000 to pod web-\w+-\w+, uid [0-9a-f-]+: failed to connect to localhost:7000 inside namespace of the pod: connect: connection refused/.test(
          output(),
        ),
      'the error on the error stream',
      10_000,
    );
  });

  for (const [name, bin] of [
    ['1.27 (SPDY)', kubectl127],
    ['1.33 (WebSocket)', kubectl],
  ] as const)
    test(`exec with kubectl ${name}: output, stdin, exit codes`, () => {
      const pod = webPod();
      assert.equal(ok(['exec', pod, '--', 'echo', 'hello'], undefined, bin), 'hello\n');
      assert.equal(ok(['exec', '-i', pod, '--', 'sh', '-c', 'tr a-z A-Z'], 'shout\n', bin), 'SHOUT\n');
      const failed = k(['exec', pod, '--', 'sh', '-c', 'echo oops >&2; exit 3'], undefined, bin);
      assert.equal(failed.code, 3);
      assert.match(failed.stderr, /oops/);
    });

  for (const [name, bin] of [
    ['1.33', kubectl],
    ['1.27', kubectl127],
  ] as const)
    test(`kubectl ${name} cp both ways`, () => {
      const dir = tempDir(cleanup, 'gantry-cp-');
      mkdirSync(path.join(dir, 'up'));
      writeFileSync(path.join(dir, 'up', 'a.txt'), 'alpha\n');
      const pod = webPod();
      ok(['cp', path.join(dir, 'up', 'a.txt'), `${pod}:/tmp/a.txt`], undefined, bin);
      assert.equal(ok(['exec', pod, '--', 'cat', '/tmp/a.txt']), 'alpha\n');
      ok(['cp', `${pod}:/www/index.html`, path.join(dir, 'down.html')], undefined, bin);
      assert.equal(readFileSync(path.join(dir, 'down.html'), 'utf8'), 'inside\n');
    });

  test('attach -i sends stdin to the container and shows its output (kubectl 1.33 and 1.27)', async () => {
    for (const [bin, line] of [
      [kubectl, 'one'],
      [kubectl127, 'two'],
    ] as const) {
      const child = spawn(bin, ['attach', '-i', 'talker'], {
        env: { ...process.env, ...server.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      cleanup.add(() => {
        child.kill();
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stdin.write(`${line}\n`);
      await waitFor(
        () => out.includes(`got:${line}\n`),
        `attach (${bin}) to show the container's answer: ${out}`,
        15_000,
      );
      child.kill();
    }
  });

  test('exec -it typed into tmux: a terminal of the window size, following a resize', async () => {
    const session = `gantry-io-${process.pid}`;
    const env = Object.entries(server.env)
      .map(([key, v]) => `${key}=${v}`)
      .join(' ');
    run('tmux', [
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '100',
      '-y',
      '30',
      `env ${env} ${kubectl} exec -it talker -- sh`,
    ]);
    cleanup.add(() => void run('tmux', ['kill-session', '-t', session]));
    const screen = (): string => run('tmux', ['capture-pane', '-p', '-t', session]).stdout;
    await waitFor(() => /^\/ [#$]/m.test(screen()), 'the shell prompt', 20_000);
    run('tmux', ['send-keys', '-t', session, 'stty size; echo typed-$((6*7))', 'Enter']);
    await waitFor(() => /typed-42/.test(screen()), 'the typed command to run', 10_000);
    assert.match(screen(), /^30 100$/m);
    // The window changes size: the terminal in the container follows.
    run('tmux', ['resize-window', '-t', session, '-x', '120', '-y', '40']);
    await new Promise((r) => setTimeout(r, 500));
    run('tmux', ['send-keys', '-t', session, 'clear; stty size', 'Enter']);
    await waitFor(() => /^40 120$/m.test(screen()), 'the resized terminal', 10_000);
    run('tmux', ['send-keys', '-t', session, 'exit', 'Enter']);
  });

  test(
    "the Python client's stream exec and port-forward",
    { skip: !hasPythonClient && 'python3-kubernetes is not installed' },
    () => {
      const script = `
import sys
from kubernetes import client, config
from kubernetes.stream import stream, portforward
config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
out = stream(api.connect_get_namespaced_pod_exec, sys.argv[2], 'default', command=['sh', '-c', 'echo py-exec'], stderr=True, stdin=False, stdout=True, tty=False)
print(out.strip())
pf = portforward(api.connect_get_namespaced_pod_portforward, sys.argv[2], 'default', ports='9090')
sock = pf.socket(9090)
sock.setblocking(True)
sock.sendall(b'GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')
data = b''
while True:
    chunk = sock.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode().split('\\r\\n\\r\\n', 1)[1].strip())
sock.close()
`;
      const r = run(PYTHON, ['-c', script, server.env.KUBECONFIG!, webPod()]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'py-exec\npublic\n');
    },
  );

  test("kubectl debug: an ephemeral container sharing the target's processes, and one attached with -i", async () => {
    const pod = webPod();
    ok(['debug', pod, '--image=busybox', '--target=web', '-c', 'peek', '--', 'sh', '-c', 'ps; sleep 2']);
    await waitFor(
      () => /httpd -f -p 9090/.test(k(['logs', pod, '-c', 'peek']).stdout),
      "the debug container to see the target's processes",
      60_000,
    );
    assert.match(ok(['get', 'pod', pod, '-o', 'jsonpath={.status.ephemeralContainerStatuses[*].name}']), /peek/);
    const attached = k(['debug', '-i', pod, '--image=busybox', '-c', 'shell', '--', 'sh'], 'echo from-debug\nexit\n');
    assert.match(attached.stdout, /from-debug/);
    const changed = k([
      'patch',
      'pod',
      pod,
      '--subresource=ephemeralcontainers',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/spec/ephemeralContainers/0"}]',
    ]);
    assert.notEqual(changed.code, 0);
    assert.match(changed.stderr, /existing ephemeral containers "peek" may not be removed or changed/);
  });
});
