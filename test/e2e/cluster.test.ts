/**
 * A one-node cluster: `gantry server` (API server, controllers, scheduler) and `gantry agent` running
 * pods through a gantry daemon and programming service rules, driven with kubectl 1.33. Images come from a loopback registry the
 * daemon uses as its mirror.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  agentArgs,
  Cleanup,
  curl,
  GANTRY,
  hasKubectl,
  kubectl,
  run,
  seedRegistry,
  startDaemon,
  startProcess,
  startRegistry,
  startServer,
  waitFor,
  type ClusterServer,
  type Daemon,
} from './helpers.js';

describe('a one-node cluster', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let env: Record<string, string>;
  let d: Daemon;
  let dir: string;
  let server: ClusterServer;
  let nodeArgs: string[];
  let agent: ReturnType<typeof startProcess>;
  const k = (args: string[]): { code: number; stdout: string; stderr: string } => run(kubectl, args, { env });
  const ok = (args: string[]): string => {
    const r = k(args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const podsOf = (app: string): Array<{ name: string; phase: string; ip?: string; node?: string; restarts: number }> =>
    (
      JSON.parse(ok(['get', 'pods', '-l', `app=${app}`, '-o', 'json'])) as {
        items: Array<{
          metadata: { name: string };
          spec: { nodeName?: string };
          status: { phase?: string; podIP?: string; containerStatuses?: Array<{ restartCount: number }> };
        }>;
      }
    ).items.map((p) => ({
      name: p.metadata.name,
      phase: p.status.phase ?? '',
      ip: p.status.podIP,
      node: p.spec.nodeName,
      restarts: p.status.containerStatuses?.[0]?.restartCount ?? 0,
    }));
  /** Containers the agent made in the engine for pods. */
  const engineContainers = (): string[] =>
    run('docker', ['ps', '-a', '--filter', 'label=io.kubernetes.pod.uid', '--format', '{{.Names}}'], { env: d.env })
      .stdout.split('\n')
      .filter(Boolean);

  before(async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}`, insecure: [reg.addr] });
    server = await startServer(cleanup);
    dir = server.dir;
    env = server.env;
    nodeArgs = await agentArgs(server, d, 'node-1');
    agent = startProcess(cleanup, GANTRY, nodeArgs, path.join(dir, 'agent.log'));
    // Pods the agent leaves behind when a test fails are removed with the daemon's containers.
    cleanup.add(() => {
      for (const name of engineContainers()) run('docker', ['rm', '-f', name], { env: d.env });
    });
    await waitFor(() => /node-1\s+Ready/.test(k(['get', 'nodes']).stdout), 'the node to be Ready', 20000);
  });
  after(() => cleanup.run());

  test('the node registers with its addresses, capacity and a lease', () => {
    const node = JSON.parse(ok(['get', 'node', 'node-1', '-o', 'json'])) as {
      metadata: { labels: Record<string, string> };
      status: {
        capacity: Record<string, string>;
        nodeInfo: { kubeletVersion: string };
        addresses: Array<{ type: string }>;
      };
    };
    assert.equal(node.metadata.labels['kubernetes.io/hostname'], 'node-1');
    assert.ok(Number(node.status.capacity.cpu) >= 1);
    assert.match(node.status.nodeInfo.kubeletVersion, /^v1\.33/);
    assert.deepEqual(
      node.status.addresses.map((a) => a.type),
      ['InternalIP', 'Hostname'],
    );
    assert.equal(
      ok(['-n', 'kube-node-lease', 'get', 'lease', 'node-1', '-o', 'jsonpath={.spec.holderIdentity}']),
      'node-1',
    );
  });

  test('a Deployment runs: pods scheduled, Running with their own IPs, serving; scaled down, their containers go', async () => {
    // httpd as PID 1 ignores SIGTERM, so a short grace period keeps deletions quick.
    const manifest = path.join(dir, 'web.yaml');
    writeFileSync(
      manifest,
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: busybox
        image: busybox
        command: [sh, -c, 'echo "hello from $(hostname)" > /tmp/index.html && exec httpd -f -p 8080 -h /tmp']
`,
    );
    ok(['apply', '-f', manifest]);
    await waitFor(
      () => {
        const pods = podsOf('web');
        return pods.length === 2 && pods.every((p) => p.phase === 'Running' && p.ip && p.node === 'node-1');
      },
      'two running pods',
      60000,
    );
    const pods = podsOf('web');
    assert.notEqual(pods[0]!.ip, pods[1]!.ip);
    for (const p of pods) {
      await waitFor(
        async () => (await curl(`http://${p.ip}:8080/index.html`)) === `hello from ${p.name}\n`,
        `pod ${p.name} to serve`,
        15000,
      );
    }
    await waitFor(
      () => /web\s+2\/2\s+2\s+2/.test(ok(['get', 'deploy', 'web'])),
      'the deployment to be available',
      15000,
    );
    assert.match(ok(['get', 'pods', '-o', 'wide']), /web-\S+\s+1\/1\s+Running\s+0\s+\S+\s+10\.\d+\.\d+\.\d+\s+node-1/);
    assert.equal(engineContainers().length, 4, 'an infrastructure container and one container per pod');
    // Events for kubectl describe and get events: the scheduler's, the agent's and the controllers'.
    await waitFor(
      () => {
        const reasons = ok([
          'get',
          'events',
          '--field-selector',
          `involvedObject.name=${pods[0]!.name}`,
          '-o',
          'jsonpath={.items[*].reason}',
        ]).split(' ');
        return ['Scheduled', 'Created', 'Started'].every((r) => reasons.includes(r));
      },
      'the pod events',
      10000,
    );
    assert.match(
      ok(['describe', 'pod', pods[0]!.name]),
      /Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default\/web-\S+ to node-1/,
    );
    assert.match(
      ok(['get', 'events']),
      /Normal\s+ScalingReplicaSet\s+deployment\/web\s+Scaled up replica set web-\S+ from 0 to 2/,
    );
    // A Service: endpoints follow the ready pods; the cluster IP and the node port reach both pods, from
    // the host and from inside a pod.
    ok(['expose', 'deployment', 'web', '--port=80', '--target-port=8080', '--type=NodePort']);
    await waitFor(
      () =>
        ok(['get', 'endpoints', 'web', '-o', 'jsonpath={.subsets[*].addresses[*].ip}']).split(' ').sort().join() ===
        pods
          .map((p) => p.ip)
          .sort()
          .join(),
      'the endpoints',
      15000,
    );
    assert.equal(
      ok(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'jsonpath={.items[0].ports[0].port}']),
      '8080',
    );
    const clusterIp = ok(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}']);
    const nodePort = ok(['get', 'svc', 'web', '-o', 'jsonpath={.spec.ports[0].nodePort}']);
    const nodeIp = ok(['get', 'node', 'node-1', '-o', 'jsonpath={.status.addresses[0].address}']);
    const answers = new Set<string>();
    await waitFor(
      async () => {
        answers.add(await curl(`http://${clusterIp}/index.html`));
        return pods.every((p) => answers.has(`hello from ${p.name}\n`));
      },
      'both pods to answer on the cluster IP',
      20000,
    );
    assert.equal(
      await curl(`http://${nodeIp}:${nodePort}/index.html`).then((t) => t.startsWith('hello from web-')),
      true,
      'the node port answers',
    );
    const inPod = engineContainers().find((n) => n.startsWith('k8s_busybox_'))!;
    const fromPod = new Set<string>();
    await waitFor(
      () => {
        // busybox-static's wget crashes resolving names; nc speaks the HTTP by hand.
        fromPod.add(
          run(
            'docker',
            [
              'exec',
              inPod,
              'sh',
              '-c',
              `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${clusterIp} 80 | tail -1`,
            ],
            { env: d.env },
          ).stdout,
        );
        return pods.every((p) => fromPod.has(`hello from ${p.name}\n`));
      },
      'both pods to answer a pod on the cluster IP (one of them itself)',
      20000,
    );
    // Cluster DNS: the pod's resolver is the kube-dns Service, which names the web Service.
    const dnsIp = ok(['-n', 'kube-system', 'get', 'svc', 'kube-dns', '-o', 'jsonpath={.spec.clusterIP}']);
    assert.equal(dnsIp, '10.43.0.10');
    const resolv = run('docker', ['exec', inPod, 'cat', '/etc/resolv.conf'], { env: d.env }).stdout;
    assert.match(resolv, new RegExp(`nameserver ${dnsIp.replace(/\./g, '\\.')}`));
    assert.match(resolv, /search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
    assert.match(resolv, /options ndots:5/);
    await waitFor(
      () =>
        run('docker', ['exec', inPod, 'nslookup', 'web.default.svc.cluster.local'], { env: d.env }).stdout.includes(
          clusterIp,
        ),
      'the service name to resolve',
      15000,
    );
    assert.match(
      run('docker', ['exec', inPod, 'nslookup', `${pods[0]!.ip!.replace(/\./g, '-')}.default.pod.cluster.local`], {
        env: d.env,
      }).stdout,
      new RegExp(pods[0]!.ip!.replace(/\./g, '\\.')),
    );
    ok(['delete', 'service', 'web']);
    ok(['scale', 'deployment', 'web', '--replicas=1']);
    await waitFor(
      () => podsOf('web').length === 1 && engineContainers().length === 2,
      'one pod and its containers left',
      30000,
    );
    ok(['delete', 'deployment', 'web']);
    await waitFor(() => podsOf('web').length === 0 && engineContainers().length === 0, 'everything gone', 30000);
  });

  test('restartPolicy: a failing container restarts (Always) or the pod fails (Never); a finished one succeeds', async () => {
    ok(['run', 'crashy', '--image=busybox', '--labels=app=crashy', '--', 'sh', '-c', 'sleep 1; exit 3']);
    await waitFor(() => (podsOf('crashy')[0]?.restarts ?? 0) >= 1, 'a restart', 30000);
    ok(['run', 'once', '--image=busybox', '--restart=Never', '--labels=app=once', '--', 'sh', '-c', 'exit 4']);
    ok(['run', 'done', '--image=busybox', '--restart=Never', '--labels=app=done', '--', 'true']);
    await waitFor(
      () => podsOf('once')[0]?.phase === 'Failed' && podsOf('done')[0]?.phase === 'Succeeded',
      'Failed and Succeeded',
      30000,
    );
    assert.equal(
      ok(['get', 'pod', 'once', '-o', 'jsonpath={.status.containerStatuses[0].state.terminated.exitCode}']),
      '4',
    );
    ok(['delete', 'pod', 'crashy', 'once', 'done', '--grace-period=1']);
    await waitFor(() => engineContainers().length === 0, 'their containers to go', 30000);
  });

  test('kubectl logs (whole, --tail, -f) and exec (output, exit code, stdin), through the API server from the agent', async () => {
    ok([
      'run',
      'talker',
      '--image=busybox',
      '--labels=app=talker',
      '--',
      'sh',
      '-c',
      'echo one; echo two >&2; sleep 2; echo three; sleep 3600',
    ]);
    await waitFor(() => podsOf('talker')[0]?.phase === 'Running', 'talker running', 30000);
    await waitFor(() => k(['logs', 'talker']).stdout === 'one\ntwo\n', 'the first lines', 10000);
    assert.equal(ok(['logs', 'talker', '--tail=1']), 'two\n');
    const follower = spawn(kubectl, ['logs', '-f', 'talker'], { env: { ...process.env, ...env } });
    cleanup.add(() => void follower.kill('SIGKILL'));
    let followed = '';
    follower.stdout.on('data', (c: Buffer) => (followed += c.toString()));
    await waitFor(() => followed.includes('three\n'), 'the followed log to show a new line', 15000);
    follower.kill('SIGKILL');
    assert.match(k(['logs', 'talker', '-c', 'nope']).stderr, /container nope is not valid for pod talker/);
    // kubectl exec over a WebSocket, relayed by the API server to the agent.
    assert.equal(ok(['exec', 'talker', '--', 'hostname']), 'talker\n');
    const failed = k(['exec', 'talker', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(failed.code, 3);
    assert.equal(failed.stdout, 'out\n');
    assert.match(failed.stderr, /err\n[\s\S]*command terminated with exit code 3/);
    assert.equal(
      run(kubectl, ['exec', '-i', 'talker', '--', 'cat'], { env, input: 'through stdin\n' }).stdout,
      'through stdin\n',
    );
    ok(['delete', 'pod', 'talker', '--grace-period=1']);
    await waitFor(() => engineContainers().length === 0, 'its containers to go', 30000);
  });

  test('configuration: env from ConfigMaps, Secrets and pod fields; ConfigMap, Secret and shared emptyDir volumes', async () => {
    ok(['create', 'configmap', 'settings', '--from-literal=mode=fast', '--from-literal=GREETING=hello']);
    ok(['create', 'secret', 'generic', 'creds', '--from-literal=password=s3cret']);
    const file = path.join(dir, 'configured.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: {name: configured, labels: {app: configured}}
spec:
  volumes:
  - {name: config, configMap: {name: settings}}
  - {name: secret, secret: {secretName: creds}}
  - {name: scratch, emptyDir: {}}
  containers:
  - name: writer
    image: busybox
    command: [sh, -c, 'echo "$GREETING $PASSWORD $MY_NAME $MY_NS $mode"; cat /etc/config/mode /etc/secret/password; echo; echo shared > /data/x; sleep 3600']
    envFrom: [{configMapRef: {name: settings}}]
    env:
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
    - {name: MY_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret}
    - {name: scratch, mountPath: /data}
  - name: reader
    image: busybox
    command: [sh, -c, 'while [ ! -f /data/x ]; do sleep 0.2; done; cat /data/x; sleep 3600']
    volumeMounts: [{name: scratch, mountPath: /data}]
`,
    );
    ok(['apply', '-f', file]);
    await waitFor(() => podsOf('configured')[0]?.phase === 'Running', 'configured running', 30000);
    await waitFor(
      () => k(['logs', 'configured', '-c', 'writer']).stdout === 'hello s3cret configured default fast\nfasts3cret\n',
      'the writer to print its configuration',
      15000,
    );
    await waitFor(
      () => k(['logs', 'configured', '-c', 'reader']).stdout === 'shared\n',
      'the reader to see the shared volume',
      15000,
    );
    // A container whose ConfigMap is missing waits, then starts once it exists.
    ok([
      'run',
      'waiting',
      '--image=busybox',
      '--labels=app=waiting',
      '--overrides',
      JSON.stringify({
        spec: {
          containers: [
            {
              name: 'waiting',
              image: 'busybox',
              command: ['sleep', '3600'],
              env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'later', key: 'x' } } }],
            },
          ],
        },
      }),
    ]);
    await waitFor(
      () =>
        ok(['get', 'pod', 'waiting', '-o', 'jsonpath={.status.containerStatuses[0].state.waiting.reason}']) ===
        'CreateContainerConfigError',
      'the config error',
      20000,
    );
    assert.match(ok(['get', 'pods', 'waiting']), /waiting\s+0\/1\s+CreateContainerConfigError/);
    ok(['create', 'configmap', 'later', '--from-literal=x=1']);
    await waitFor(() => podsOf('waiting')[0]?.phase === 'Running', 'the pod to start once its ConfigMap exists', 20000);
    ok(['delete', 'pod', 'configured', 'waiting', '--grace-period=1']);
    await waitFor(() => engineContainers().length === 0, 'their containers to go', 30000);
  });

  test('probes: readiness gates Ready and the endpoints; a failing liveness probe restarts the container', async () => {
    const file = path.join(dir, 'probed.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: {name: probed, labels: {app: probed}}
spec:
  containers:
  - name: web
    image: busybox
    command: [sh, -c, 'mkdir -p /www && touch /tmp/alive && exec httpd -f -p 8080 -h /www']
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1}
    livenessProbe: {exec: {command: [cat, /tmp/alive]}, periodSeconds: 1, failureThreshold: 2}
---
apiVersion: v1
kind: Service
metadata: {name: probed}
spec: {selector: {app: probed}, ports: [{port: 80, targetPort: http}]}
`,
    );
    ok(['apply', '-f', file]);
    await waitFor(() => podsOf('probed')[0]?.phase === 'Running', 'probed running', 30000);
    await new Promise((r) => setTimeout(r, 2500));
    assert.match(ok(['get', 'pod', 'probed']), /probed\s+0\/1\s+Running/, 'not ready while /ready answers 404');
    assert.equal(
      ok(['get', 'endpoints', 'probed', '-o', 'jsonpath={.subsets[0].notReadyAddresses[0].ip}']),
      podsOf('probed')[0]!.ip,
    );
    const web = engineContainers().find((n) => n.startsWith('k8s_web_probed_'))!;
    run('docker', ['exec', web, 'touch', '/www/ready'], { env: d.env });
    await waitFor(
      () => /probed\s+1\/1\s+Running/.test(ok(['get', 'pod', 'probed'])),
      'ready once /ready answers',
      15000,
    );
    await waitFor(
      () =>
        ok(['get', 'endpoints', 'probed', '-o', 'jsonpath={.subsets[0].addresses[0].ip}']) === podsOf('probed')[0]!.ip,
      'a ready endpoint',
      15000,
    );
    run('docker', ['exec', web, 'rm', '/tmp/alive'], { env: d.env });
    await waitFor(() => podsOf('probed')[0]!.restarts >= 1, 'a restart by the liveness probe', 20000);
    ok(['delete', '-f', file, '--grace-period=1']);
    await waitFor(() => engineContainers().length === 0, 'its containers to go', 30000);
  });

  test('the dashboard page is served without a token, its API only to a session, and the Tables it shows', async () => {
    const page = run('curl', ['-sk', '-D', '-', `${server.url}/dashboard/`]).stdout;
    assert.match(page, /<title>Gantry dashboard<\/title>/);
    assert.match(page, /content-security-policy: default-src 'self'/i);
    assert.match(page, /<script type="module" crossorigin src="\/dashboard\/assets\/index-[\w-]+\.js">/);
    assert.match(
      run('curl', ['-sk', `${server.url}/dashboard/api/k8s/api/v1/pods`]).stdout,
      /"message":"not logged in, or the session has ended","reason":"Unauthorized","code":401/,
      'the data needs a session',
    );
    for (const p of [
      '/api/v1/nodes',
      '/apis/apps/v1/namespaces/default/deployments',
      '/api/v1/pods',
      '/api/v1/services',
      '/api/v1/events',
    ]) {
      const table = JSON.parse(
        run('curl', [
          '-sk',
          '-H',
          `Authorization: Bearer ${server.token}`,
          '-H',
          'Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
          `${server.url}${p}`,
        ]).stdout,
      ) as { kind: string; rows: Array<{ cells: unknown[] }> };
      assert.equal(table.kind, 'Table', p);
      if (p === '/api/v1/nodes') assert.equal(table.rows[0]!.cells[0], 'node-1');
    }
  });

  test('a stopped agent leaves no service rules behind', async () => {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    assert.doesNotMatch(run('iptables-save', ['-t', 'nat']).stdout, /GANTRY-(SERVICES|NODEPORTS|POSTROUTING|SVC|SEP)/);
    agent = startProcess(cleanup, GANTRY, nodeArgs, path.join(dir, 'agent.log'));
    await waitFor(() => /GANTRY-SERVICES/.test(run('iptables-save', ['-t', 'nat']).stdout), 'the rules back', 15000);
  });

  test('an agent restart finds its pods again: no container is made twice', async () => {
    ok(['run', 'steady', '--image=busybox', '--labels=app=steady', '--', 'sleep', '3600']);
    await waitFor(() => podsOf('steady')[0]?.phase === 'Running', 'steady running', 30000);
    const before = engineContainers().sort();
    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    agent = startProcess(cleanup, GANTRY, nodeArgs, path.join(dir, 'agent.log'));
    await new Promise((r) => setTimeout(r, 4000));
    assert.deepEqual(engineContainers().sort(), before, 'the same containers, none added');
    assert.equal(podsOf('steady')[0]?.phase, 'Running');
    ok(['delete', 'pod', 'steady', '--grace-period=1']);
    await waitFor(() => engineContainers().length === 0, 'its containers to go', 30000);
  });
});
