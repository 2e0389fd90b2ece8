/**
 * Issue 13, multi-node clusters: `gantry cluster up --nodes 4` makes four network-namespace nodes on a
 * node LAN, all Ready when it returns, its context merged into ~/.kube/config; pods spread over the
 * nodes with addresses from each node's range; the host reaches pods by IP, pods reach pods on other
 * nodes by IP, through Services and cluster DNS; NodePorts answer on every node; LoadBalancer Services
 * get an address on the node LAN; the walk-through (kubia built and pushed to the host's localhost
 * registry, exposed as a LoadBalancer, scaled to 3 across the labelled workers); a stopped node goes
 * NotReady and its pods come back elsewhere; drain honours PodDisruptionBudgets; nodes are added and
 * deleted; bad input is refused; `cluster down` leaves no namespace, device, route, iptables rule,
 * process, mount or file. kubectl 1.33 (and 1.27 for reads).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { contains, parseCidr } from '../../src/network/ipnet.js';
import {
  Cleanup,
  GANTRY,
  hasKubectl,
  kubectl,
  kubectl127,
  run,
  seedRegistry,
  startRegistry,
  tempDir,
  waitFor,
} from './helpers.js';
import { freeRanges, httpGet, leftovers } from './localcluster.js';

describe('gantry cluster up: several nodes on one machine', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  const name = `e2e${randomBytes(3).toString('hex')}`;
  const { subnet, clusterCidr } = freeRanges();
  let dataDir: string;
  let registryPort = '';
  let env: Record<string, string>;
  const k = (args: string[], input?: string): { code: number; stdout: string; stderr: string } =>
    run(kubectl, args, { env, input });
  const ok = (args: string[], input?: string): string => {
    const r = k(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const gantry = (args: string[]): { code: number; stdout: string; stderr: string } =>
    run(GANTRY, args, { env, timeoutMs: 180_000 });

  before(async () => {
    const root = tempDir(cleanup, 'gantry-multinode-');
    dataDir = path.join(root, 'cluster');
    env = {
      ...(process.env as Record<string, string>),
      GANTRY_CLUSTER_INDEX: path.join(root, 'index'),
      KUBECONFIG: path.join(dataDir, 'kubeconfig.yaml'),
      // A home of its own: cluster up merges its context into ~/.kube/config, never the user's.
      HOME: path.join(root, 'home'),
    };
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    seedRegistry(reg, 'node:20', 'library/node:20');
    const port = reg.addr.split(':')[1]!;
    registryPort = port;
    // Registered first, so it runs last: whatever a failed test left, the cluster goes.
    cleanup.add(() => {
      if (existsSync(path.join(dataDir, 'cluster.json'))) gantry(['cluster', 'down', '--name', name]);
    });
    // The registry on the host's loopback, as a user's `docker push localhost:5000/...` would fill it.
    const up = gantry(
      ['cluster', 'up', '--nodes', '4', '--name', name, '--data-dir', dataDir, '--subnet', subnet]
        .concat(['--cluster-cidr', clusterCidr, '--node-monitor-grace-period', '10s'])
        .concat(['--host-registry-port', port, '--registry-mirror', `http://127.0.0.1:${port}`]),
    );
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, new RegExp(`Cluster "${name}" is up: 4 node\\(s\\) Ready`));
    assert.match(up.stdout, new RegExp(`context "${name}" merged into ~/.kube/config`));
  });
  after(() => cleanup.run());

  test('the context is merged into ~/.kube/config and is current there', () => {
    const home = run(kubectl, ['config', 'current-context'], {
      env: { ...env, KUBECONFIG: path.join(env.HOME!, '.kube', 'config') },
    });
    assert.equal(home.stdout.trim(), name);
    const nodes = run(kubectl, ['get', 'nodes', '--no-headers'], {
      env: { ...env, KUBECONFIG: path.join(env.HOME!, '.kube', 'config') },
    });
    assert.equal(nodes.stdout.trim().split('\n').length, 4, nodes.stderr);
  });

  test('four nodes, Ready on return, named as minikube names them, each with its own pod range', () => {
    const nodes = JSON.parse(ok(['get', 'nodes', '-o', 'json'])) as {
      items: Array<{
        metadata: { name: string };
        spec: { podCIDR: string };
        status: { conditions: Array<{ type: string; status: string }> };
      }>;
    };
    assert.deepEqual(nodes.items.map((n) => n.metadata.name).sort(), [
      name,
      `${name}-m02`,
      `${name}-m03`,
      `${name}-m04`,
    ]);
    for (const n of nodes.items) {
      assert.ok(
        n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
        n.metadata.name,
      );
      assert.ok(contains(parseCidr(clusterCidr), parseCidr(n.spec.podCIDR).base), n.spec.podCIDR);
    }
    assert.equal(new Set(nodes.items.map((n) => n.spec.podCIDR)).size, 4);
    assert.match(gantry(['cluster', 'ls']).stdout, new RegExp(`${name}\\s+4\\s+4/4`));
  });

  test('a Deployment spreads over the nodes; pods answer the host and each other across nodes, and through a Service', async () => {
    ok([
      'create',
      'deployment',
      'web',
      '--image=busybox',
      '--replicas=3',
      '--port=8080',
      '--',
      'sh',
      '-c',
      'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www',
    ]);
    type Pod = { metadata: { name: string }; spec: { nodeName: string }; status: { podIP?: string; phase: string } };
    let pods: Pod[] = [];
    await waitFor(
      () => {
        pods = (JSON.parse(ok(['get', 'pods', '-l', 'app=web', '-o', 'json'])) as { items: Pod[] }).items;
        return pods.length === 3 && pods.every((p) => p.status.phase === 'Running' && p.status.podIP);
      },
      'three web pods Running',
      120_000,
    );
    assert.equal(new Set(pods.map((p) => p.spec.nodeName)).size, 3, 'one pod per node');
    const ranges = new Map(
      (
        JSON.parse(ok(['get', 'nodes', '-o', 'json'])) as {
          items: Array<{ metadata: { name: string }; spec: { podCIDR: string } }>;
        }
      ).items.map((n) => [n.metadata.name, parseCidr(n.spec.podCIDR)]),
    );
    for (const p of pods)
      assert.ok(
        contains(ranges.get(p.spec.nodeName)!, parseCidr(`${p.status.podIP}/32`).base),
        `${p.metadata.name} ${p.status.podIP}`,
      );
    // The host reaches every pod by its IP (host-gw routes).
    for (const p of pods) assert.equal((await httpGet(`http://${p.status.podIP}:8080/`)).trim(), p.metadata.name);
    // A pod reaches the pods on the other nodes by IP.
    const [a, ...others] = pods;
    for (const b of others) {
      const got = ok([
        'exec',
        a!.metadata.name,
        '--',
        'sh',
        '-c',
        `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${b.status.podIP} 8080`,
      ]);
      assert.match(got, new RegExp(b.metadata.name));
    }
    // And through a Service, whose endpoints are on every node.
    ok(['expose', 'deployment', 'web', '--port=80', '--target-port=8080']);
    const clusterIp = ok(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}']).trim();
    const answered = new Set<string>();
    await waitFor(
      () => {
        const r = k([
          'exec',
          a!.metadata.name,
          '--',
          'sh',
          '-c',
          `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${clusterIp} 80`,
        ]);
        for (const p of pods) if (r.stdout.includes(p.metadata.name)) answered.add(p.metadata.name);
        return answered.size === 3;
      },
      'every pod to answer through the Service',
      60_000,
    );
  });

  test("kubectl top nodes shows each node's own usage, not the machine's", async () => {
    const meminfo = readFileSync('/proc/meminfo', 'utf8');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1] ?? 0);
    const machineMi = (kib('MemTotal') - kib('MemAvailable')) / 1024;
    let rows: string[][] = [];
    await waitFor(
      () => {
        const r = k(['top', 'nodes', '--no-headers']);
        rows = r.stdout
          .trim()
          .split('\n')
          .map((l) => l.trim().split(/\s+/));
        return r.code === 0 && rows.length === 4;
      },
      'node metrics',
      60_000,
    );
    for (const [node, , , memory] of rows) {
      const mi = Number(/^(\d+)Mi$/.exec(memory ?? '')?.[1] ?? NaN);
      assert.ok(mi > 0 && mi < machineMi / 2, `${node}: ${memory} against the machine's ${Math.round(machineMi)}Mi`);
    }
  });

  test('a LoadBalancer Service gets an external IP from the node LAN that answers from the host', async () => {
    ok(['expose', 'deployment', 'web', '--type=LoadBalancer', '--name=web-lb', '--port=8080']);
    let external = '';
    await waitFor(
      () => {
        const row = ok(['get', 'svc', 'web-lb', '--no-headers']).trim().split(/\s+/);
        external = row[3] ?? '';
        return external !== '<pending>' && external !== '';
      },
      'an EXTERNAL-IP for web-lb',
      30_000,
    );
    assert.ok(contains(parseCidr(subnet), parseCidr(`${external}/32`).base), `${external} is on the node LAN`);
    const pods = ok(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].metadata.name}']).trim().split(' ');
    const answered = new Set<string>();
    await waitFor(
      async () => {
        answered.add((await httpGet(`http://${external}:8080/`).catch(() => '')).trim());
        return pods.every((p) => answered.has(p));
      },
      'every pod to answer through the LoadBalancer address',
      60_000,
    );
  });

  test('NodePorts answer on every node; cluster DNS runs on every node and kube-dns lists them all', async () => {
    ok(['expose', 'deployment', 'web', '--type=NodePort', '--name=web-np', '--port=8080']);
    const nodePort = ok(['get', 'svc', 'web-np', '-o', 'jsonpath={.spec.ports[0].nodePort}']).trim();
    const ips = ok(['get', 'nodes', '-o', 'jsonpath={.items[*].status.addresses[?(@.type=="InternalIP")].address}'])
      .trim()
      .split(' ');
    assert.equal(ips.length, 4);
    for (const ip of ips) assert.match(await httpGet(`http://${ip}:${nodePort}/`), /\S/, `node port on ${ip}`);
    await waitFor(
      () => {
        const listed = ok([
          'get',
          'endpoints',
          '-n',
          'kube-system',
          'kube-dns',
          '-o',
          'jsonpath={.subsets[*].addresses[*].ip}',
        ]);
        return ips.every((ip) => listed.includes(ip));
      },
      'kube-dns endpoints on every node',
      30_000,
    );
    const pod = ok(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}']).trim();
    const clusterIp = ok(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}']).trim();
    const lookup = k(['exec', pod, '--', 'nslookup', 'web.default.svc.cluster.local']);
    assert.match(lookup.stdout, new RegExp(clusterIp.replace(/\./g, '\\.')), lookup.stdout + lookup.stderr);
  });

  test('NetworkPolicy across nodes and on one node: default deny (an open connection cut), then allow by label and port; egress by pod selector and ipBlock; an invalid CIDR is refused', async () => {
    const nodes = ok(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}']).trim().split(' ');
    const place = (podName: string, node: string, labels: string, command: string): string =>
      `apiVersion: v1
kind: Pod
metadata: {name: ${podName}, namespace: np, labels: {${labels}}}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: busybox, command: [sh, -c, '${command}'], ports: [{name: http, containerPort: 8080}]}]
`;
    ok(['create', 'namespace', 'np']);
    ok(
      ['apply', '-f', '-'],
      [
        place(
          'db',
          nodes[0]!,
          'app: db',
          // Also an echo service on 9000, for a connection that lives across a policy change.
          'mkdir -p /w && echo db-ok > /w/index.html && httpd -p 8080 -h /w && exec nc -ll -p 9000 -e cat',
        ),
        place('client-a', nodes[1]!, 'role: client', 'sleep 3600'),
        place('client-b', nodes[2]!, 'role: other', 'sleep 3600'),
        // Beside db on its node: bridged traffic is judged too.
        place('near-client', nodes[0]!, 'role: client', 'sleep 3600'),
        place('near-other', nodes[0]!, 'role: other', 'sleep 3600'),
      ].join('---\n'),
    );
    ok([
      '-n',
      'np',
      'wait',
      '--for=condition=Ready',
      'pod/db',
      'pod/client-a',
      'pod/client-b',
      'pod/near-client',
      'pod/near-other',
      '--timeout=120s',
    ]);
    const dbIp = ok(['-n', 'np', 'get', 'pod', 'db', '-o', 'jsonpath={.status.podIP}']).trim();
    const reachesAt = (client: string, ip: string, answer: string): boolean =>
      k([
        '-n',
        'np',
        'exec',
        client,
        '--',
        'sh',
        '-c',
        `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${ip} 8080`,
      ]).stdout.includes(answer);
    const reaches = (client: string): boolean => reachesAt(client, dbIp, 'db-ok');
    assert.ok(reaches('client-a') && reaches('client-b'), 'no policy: both reach db');
    // A connection client-b holds open, echoing a line a second until a policy cuts it.
    const echo = spawn(
      kubectl,
      ['-n', 'np', 'exec', 'client-b', '--', 'sh', '-c', `while true; do echo ping; sleep 1; done | nc ${dbIp} 9000`],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    cleanup.add(() => {
      echo.kill();
    });
    let echoes = 0;
    echo.stdout.on('data', (d: Buffer) => (echoes += (d.toString().match(/ping/g) ?? []).length));
    await waitFor(() => echoes >= 2, 'the long-lived connection to echo', 20_000);
    ok(
      ['apply', '-f', '-'],
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: np}
spec: {podSelector: {}}
`,
    );
    await waitFor(
      () => !reaches('client-a') && !reaches('client-b') && !reaches('near-client'),
      'default deny to block every client, on other nodes and beside db',
      30_000,
    );
    // The connection opened before is cut too: its echoes stop.
    await new Promise((r) => setTimeout(r, 2000));
    const after = echoes;
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(echoes, after, 'no echo after the policy');
    echo.kill();
    ok(
      ['apply', '-f', '-'],
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-clients, namespace: np}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: http}]
`,
    );
    await waitFor(() => reaches('client-a') && reaches('near-client'), 'the labelled clients to be allowed', 30_000);
    assert.equal(reaches('client-b'), false, 'the other client stays blocked');
    assert.equal(reaches('near-other'), false, 'the other client beside db stays blocked');
    assert.match(ok(['-n', 'np', 'get', 'netpol']), /^NAME\s+POD-SELECTOR\s+AGE\ndb-from-clients\s+app=db\s+/);
    // Egress: with ingress open again, the clients may reach db's http port and nothing else, then
    // client-b's address too through an ipBlock.
    ok(['-n', 'np', 'delete', 'netpol', 'default-deny', 'db-from-clients']);
    ok([
      '-n',
      'np',
      'exec',
      'client-b',
      '--',
      'sh',
      '-c',
      'mkdir -p /w && echo b-ok > /w/index.html && httpd -p 8080 -h /w',
    ]);
    const bIp = ok(['-n', 'np', 'get', 'pod', 'client-b', '-o', 'jsonpath={.status.podIP}']).trim();
    await waitFor(() => reachesAt('client-a', bIp, 'b-ok'), 'client-b to serve', 30_000);
    ok(
      ['apply', '-f', '-'],
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: clients-out, namespace: np}
spec:
  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 8080}]
`,
    );
    await waitFor(
      () => !reachesAt('client-a', bIp, 'b-ok') && !reachesAt('near-client', bIp, 'b-ok'),
      'egress to client-b to be blocked for the clients',
      30_000,
    );
    assert.ok(reaches('client-a') && reaches('near-client'), 'egress to db:8080 stays allowed');
    assert.ok(reachesAt('near-other', bIp, 'b-ok'), 'a pod the policy does not select goes anywhere');
    ok(
      ['apply', '-f', '-'],
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: clients-to-b, namespace: np}
spec:
  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: ${bIp}/32}}]}]
`,
    );
    await waitFor(() => reachesAt('client-a', bIp, 'b-ok'), 'egress to client-b by ipBlock', 30_000);
    const bad = k(
      ['apply', '-f', '-'],
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: np}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]
`,
    );
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /The NetworkPolicy "bad" is invalid: spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr: Invalid value: "10\.0\.0\.0\/33"/,
    );
    ok(['delete', 'namespace', 'np', '--wait=false']);
  });

  test('bad input is refused with a clear error before anything is made', () => {
    const before = run('ip', ['netns', 'list']).stdout;
    const cases: Array<[string[], RegExp]> = [
      [['--nodes', '0'], /invalid --nodes 0: a cluster has 1 to/],
      [['--name', 'Bad_Name'], /invalid cluster name "Bad_Name"/],
      [['--name', name], new RegExp(`cluster "${name}" is already up`)],
      [['--name', `${name}x`, '--subnet', subnet], /overlaps/],
      [['--name', `${name}x`, '--subnet', '10.0.0.0/16'], /the node LAN is a \/24/],
      [['--name', `${name}x`, '--api-port', '70000'], /invalid --api-port 70000/],
      [['--name', `${name}x`, '--lb-range', '10.0.0.9-10.0.0.1'], /invalid --lb-range/],
    ];
    for (const [args, error] of cases) {
      const r = gantry(['cluster', 'up', '--no-kubeconfig', ...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, error, args.join(' '));
    }
    assert.equal(run('ip', ['netns', 'list']).stdout, before, 'no namespace was made');
  });

  test("an image in the host's loopback registry runs under its localhost name", async () => {
    const port = registryPort;
    ok(['run', 'fromhost', `--image=localhost:${port}/library/busybox:latest`, '--', 'sleep', '3600']);
    await waitFor(
      () => ok(['get', 'pod', 'fromhost', '-o', 'jsonpath={.status.phase}']) === 'Running',
      'the pod of a localhost image Running',
      60_000,
    );
    ok(['delete', 'pod', 'fromhost', '--grace-period=0', '--force']);
  });

  test('workers labelled as the walk-through does show in the ROLES column', () => {
    for (const worker of [`${name}-m02`, `${name}-m03`, `${name}-m04`])
      ok(['label', 'node', worker, 'node-role.kubernetes.io/worker=']);
    const roles = new Map(
      ok(['get', 'nodes', '--no-headers'])
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .map((f) => [f[0]!, f[2]!]),
    );
    assert.deepEqual(Object.fromEntries(roles), {
      [name]: 'control-plane',
      [`${name}-m02`]: 'worker',
      [`${name}-m03`]: 'worker',
      [`${name}-m04`]: 'worker',
    });
  });

  test("the walk-through: kubia from the host's registry, exposed as a LoadBalancer, scaled to 3 across the workers", async () => {
    // Built and pushed as a user would, with the docker CLI (here against the first node's engine).
    const context = tempDir(cleanup, 'gantry-kubia-');
    writeFileSync(
      path.join(context, 'app.js'),
      "require('http').createServer((q, r) => r.end(`You've hit ${require('os').hostname()}\\n`)).listen(8080);\n",
    );
    writeFileSync(
      path.join(context, 'Dockerfile'),
      'FROM node:20\nADD app.js /app.js\nENTRYPOINT ["node", "/app.js"]\n',
    );
    const docker = (args: string[]): string => {
      const r = run('docker', args, {
        env: { ...env, DOCKER_HOST: `unix://${path.join(dataDir, 'nodes', name, 'engine.sock')}` },
      });
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const image = `localhost:${registryPort}/kubia`;
    docker(['build', '-t', image, context]);
    docker(['push', image]);

    ok(['create', 'deployment', 'kubia', `--image=${image}`]);
    ok(['expose', 'deployment', 'kubia', '--type=LoadBalancer', '--name', 'kubia-http', '--port=8080']);
    let external = '';
    await waitFor(
      () => {
        external = ok(['get', 'svc', 'kubia-http', '--no-headers']).trim().split(/\s+/)[3] ?? '';
        return external !== '' && external !== '<pending>';
      },
      'an EXTERNAL-IP for kubia-http',
      30_000,
    );
    ok(['scale', 'deployment', 'kubia', '--replicas=3']);
    let rows: string[][] = [];
    await waitFor(
      () => {
        rows = ok(['get', 'pods', '-l', 'app=kubia', '-o', 'wide', '--no-headers'])
          .trim()
          .split('\n')
          .map((l) => l.trim().split(/\s+/));
        return rows.length === 3 && rows.every((r) => r[2] === 'Running');
      },
      'three kubia pods Running',
      120_000,
    );
    // NAME READY STATUS RESTARTS AGE IP NODE ...: three pods, three nodes, each IP in its node's range.
    assert.equal(new Set(rows.map((r) => r[6])).size, 3, 'each pod on its own node');
    for (const r of rows) {
      const range = ok(['get', 'node', r[6]!, '-o', 'jsonpath={.spec.podCIDR}']);
      assert.ok(contains(parseCidr(range), parseCidr(`${r[5]}/32`).base), `${r[0]} ${r[5]} in ${range}`);
    }
    const hit = new Set<string>();
    await waitFor(
      async () => {
        const body = await httpGet(`http://${external}:8080/`).catch(() => '');
        const m = /You've hit (\S+)/.exec(body);
        if (m) hit.add(m[1]!);
        return rows.every((r) => hit.has(r[0]!));
      },
      'every kubia pod to answer through the LoadBalancer',
      60_000,
    );
  });

  test("Ingresses answer on the gantry-ingress Service's LoadBalancer address, which they report, and on node addresses", async () => {
    let address = '';
    await waitFor(
      () =>
        (address = ok([
          '-n',
          'kube-system',
          'get',
          'svc',
          'gantry-ingress',
          '-o',
          'jsonpath={.status.loadBalancer.ingress[0].ip}',
        ]).trim()) !== '',
      'the ingress Service to get an address',
      30_000,
    );
    assert.ok(contains(parseCidr(subnet), parseCidr(`${address}/32`).base), `${address} is on the node LAN`);
    const endpoints = ok([
      '-n',
      'kube-system',
      'get',
      'endpoints',
      'gantry-ingress',
      '-o',
      'jsonpath={.subsets[*].addresses[*].nodeName}',
    ]);
    assert.equal(endpoints.trim().split(' ').length, 4, `every Ready node's proxy: ${endpoints}`);
    ok(['create', 'ingress', 'via-lb', '--rule=kubia.example/*=kubia-http:8080']);
    await waitFor(
      () => ok(['get', 'ingress', 'via-lb', '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}']).trim() === address,
      'the Ingress to report the LoadBalancer address',
      30_000,
    );
    assert.match(
      ok(['get', 'ingress', 'via-lb']),
      new RegExp(`via-lb\\s+gantry\\s+kubia\\.example\\s+${address.replaceAll('.', '\\.')}\\s+80\\s`),
    );
    const nodeIp = ok([
      'get',
      'node',
      `${name}-m02`,
      '-o',
      'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}',
    ]);
    for (const target of [address, nodeIp])
      await waitFor(
        async () =>
          /You've hit kubia-/.test(await httpGet(`http://${target}/`, { Host: 'kubia.example' }).catch(() => '')),
        `kubia through the ingress on ${target}`,
        30_000,
      );
    assert.doesNotMatch(await httpGet(`http://${address}/`, { Host: 'other.example' }), /You've hit/);
    ok(['delete', 'ingress', 'via-lb']);
  });

  test('a stopped node goes NotReady and is tainted, its pods come back elsewhere, the Service keeps answering; started, it is Ready', async () => {
    const stopped = `${name}-m03`;
    // Pods that leave an unreachable node after 5 s instead of Kubernetes' default 300 s.
    const manifest = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'sturdy' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'sturdy' } },
        template: {
          metadata: { labels: { app: 'sturdy' } },
          spec: {
            containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }],
            tolerations: ['unreachable', 'not-ready'].map((t) => ({
              key: `node.kubernetes.io/${t}`,
              operator: 'Exists',
              effect: 'NoExecute',
              tolerationSeconds: 5,
            })),
          },
        },
      },
    };
    const applied = run(kubectl, ['apply', '-f', '-'], { env, input: JSON.stringify(manifest) });
    assert.equal(applied.code, 0, applied.stderr);
    type Pod = {
      metadata: { name: string; deletionTimestamp?: string };
      spec: { nodeName?: string; tolerations?: unknown[] };
      status: { phase: string };
    };
    const sturdy = (): Pod[] =>
      (JSON.parse(ok(['get', 'pods', '-l', 'app=sturdy', '-o', 'json'])) as { items: Pod[] }).items;
    await waitFor(
      () => sturdy().filter((p) => p.status.phase === 'Running').length === 3,
      'three sturdy pods Running',
      120_000,
    );
    const web = ok(['get', 'pods', '-l', 'app=web', '-o', 'json']);
    assert.match(web, /"tolerationSeconds": 300/, 'the API server adds the default tolerations');
    const external = ok(['get', 'svc', 'web-lb', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']).trim();

    const stop = gantry(['cluster', 'node', 'stop', stopped, '--name', name]);
    assert.equal(stop.code, 0, stop.stderr);
    await waitFor(
      () => new RegExp(`${stopped}\\s+NotReady`).test(ok(['get', 'nodes'])),
      `${stopped} to be NotReady`,
      60_000,
    );
    assert.match(
      ok(['get', 'node', stopped, '-o', 'jsonpath={.spec.taints[*].key}']),
      /node.kubernetes.io\/unreachable/,
    );
    await waitFor(
      () => {
        const live = sturdy().filter((p) => !p.metadata.deletionTimestamp && p.status.phase === 'Running');
        return live.length === 3 && live.every((p) => p.spec.nodeName !== stopped);
      },
      'three sturdy pods Running on the other nodes',
      90_000,
    );
    // The web pod on the stopped node is no longer Ready, so the LoadBalancer sends nothing there.
    await waitFor(
      async () => {
        for (let i = 0; i < 10; i++) if (!(await httpGet(`http://${external}:8080/`).catch(() => ''))) return false;
        return true;
      },
      'the LoadBalancer to answer every request',
      60_000,
    );

    const start = gantry(['cluster', 'node', 'start', stopped, '--name', name]);
    assert.equal(start.code, 0, start.stderr);
    await waitFor(() => new RegExp(`${stopped}\\s+Ready`).test(ok(['get', 'nodes'])), `${stopped} Ready again`, 60_000);
    await waitFor(
      () => !ok(['get', 'node', stopped, '-o', 'jsonpath={.spec.taints}']).includes('unreachable'),
      'the taint removed',
      30_000,
    );
  });

  test('kubectl drain cordons a node and evicts its pods, which come back on the others; uncordon', async () => {
    const drained = `${name}-m02`;
    // A budget that allows no disruption stops the drain; one that allows one lets it through.
    ok(['create', 'poddisruptionbudget', 'sturdy', '--selector=app=sturdy', '--min-available=3']);
    await waitFor(
      () => /sturdy\s+3\s+N\/A\s+0\s/.test(ok(['get', 'pdb', 'sturdy'])),
      'the budget status: 0 allowed disruptions',
      30_000,
    );
    const blocked = k(['drain', drained, '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--timeout=6s']);
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.stderr + blocked.stdout, /disruption budget/);
    ok(['patch', 'pdb', 'sturdy', '--type=merge', '-p', '{"spec":{"minAvailable":2}}']);
    await waitFor(
      () => /sturdy\s+2\s+N\/A\s+1\s/.test(ok(['get', 'pdb', 'sturdy'])),
      'the budget status: 1 allowed disruption',
      30_000,
    );
    const r = k(['drain', drained, '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--timeout=90s']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`node/${drained} drained`));
    assert.match(ok(['get', 'nodes']), new RegExp(`${drained}\\s+Ready,SchedulingDisabled`));
    await waitFor(
      () => {
        const pods = JSON.parse(ok(['get', 'pods', '-l', 'app=sturdy', '-o', 'json'])) as {
          items: Array<{
            metadata: { deletionTimestamp?: string };
            spec: { nodeName?: string };
            status: { phase: string };
          }>;
        };
        const live = pods.items.filter((p) => !p.metadata.deletionTimestamp && p.status.phase === 'Running');
        return live.length === 3 && live.every((p) => p.spec.nodeName !== drained);
      },
      'the sturdy pods Running on the other nodes',
      90_000,
    );
    ok(['uncordon', drained]);
    assert.match(ok(['get', 'nodes']), new RegExp(`${drained}\\s+Ready\\s`));
  });

  test(
    'kubectl 1.27 sees the same cluster',
    { skip: !existsSync(kubectl127) && 'kubectl 1.27 is not installed' },
    () => {
      const nodes = run(kubectl127, ['get', 'nodes'], { env });
      assert.equal(nodes.code, 0, nodes.stderr);
      assert.equal(nodes.stdout.match(/\sReady\s/g)?.length, 4);
      const svc = run(kubectl127, ['get', 'svc', 'web-lb'], { env });
      assert.match(svc.stdout, /LoadBalancer\s+\S+\s+192\.168\./);
    },
  );

  test('a node added is Ready with its own range and gets a DaemonSet pod; deleted, it is gone', async () => {
    ok(
      ['create', '-f', '-'],
      `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-agent}
spec:
  selector: {matchLabels: {app: node-agent}}
  template:
    metadata: {labels: {app: node-agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: a, image: busybox, command: [sleep, '3600']}]
`,
    );
    ok(['rollout', 'status', 'ds/node-agent', '--timeout=90s']);
    assert.equal(ok(['get', 'ds', 'node-agent', '-o', 'jsonpath={.status.numberReady}']), '4');
    const add = gantry(['cluster', 'node', 'add', '--name', name]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`Node ${name}-m05 added`));
    assert.match(ok(['get', 'nodes']), new RegExp(`${name}-m05\\s+Ready`));
    await waitFor(
      () =>
        ok([
          'get',
          'pods',
          '-l',
          'app=node-agent',
          '--field-selector',
          `spec.nodeName=${name}-m05,status.phase=Running`,
          '-o',
          'name',
        ]) !== '',
      'a DaemonSet pod running on the new node',
      60_000,
    );
    // The status may still count four nodes here, which rollout status would accept; wait for five.
    await waitFor(
      () =>
        ok(['get', 'ds', 'node-agent', '-o', 'jsonpath={.status.desiredNumberScheduled}/{.status.numberAvailable}']) ===
        '5/5',
      'the DaemonSet status to count the new node',
      30_000,
    );
    ok(['rollout', 'status', 'ds/node-agent', '--timeout=60s']);
    ok(['delete', 'ds', 'node-agent']);
    const del = gantry(['cluster', 'node', 'delete', `${name}-m05`, '--name', name]);
    assert.equal(del.code, 0, del.stderr);
    assert.doesNotMatch(ok(['get', 'nodes']), new RegExp(`${name}-m05`));
    assert.deepEqual(leftovers('ip', ['netns', 'list'], `${name}-m05`), []);
    const refused = gantry(['cluster', 'node', 'delete', name, '--name', name]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /runs the API server/);
  });

  test('cluster down leaves nothing behind', () => {
    const record = JSON.parse(readFileSync(path.join(dataDir, 'cluster.json'), 'utf8')) as {
      lan: { bridge: string };
      nodes: Array<{ netns: string; hostVeth: string; engine?: { pid: number }; agent?: { pid: number } }>;
      server: { pid: number };
    };
    const down = gantry(['cluster', 'down', '--name', name]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(leftovers('ip', ['netns', 'list'], name), []);
    assert.deepEqual(leftovers('ip', ['-o', 'link'], record.lan.bridge), []);
    for (const n of record.nodes) assert.deepEqual(leftovers('ip', ['-o', 'link'], n.hostVeth), []);
    assert.deepEqual(leftovers('ip', ['route'], clusterCidr.split('.').slice(0, 2).join('.') + '.'), []);
    assert.deepEqual(leftovers('iptables', ['-S'], record.lan.bridge), []);
    assert.deepEqual(leftovers('cat', ['/proc/self/mountinfo'], dataDir), []);
    for (const pid of [record.server.pid, ...record.nodes.flatMap((n) => [n.engine?.pid, n.agent?.pid])].filter(
      Boolean,
    ))
      assert.ok(
        !existsSync(`/proc/${pid}`) || !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('gantry'),
        `process ${pid} is gone`,
      );
    assert.ok(!existsSync(dataDir), 'the data dir is removed');
    assert.doesNotMatch(
      readFileSync(path.join(env.HOME!, '.kube', 'config'), 'utf8'),
      new RegExp(`name: ${name}\\b`),
      'its kubeconfig entries are removed',
    );
    assert.equal(gantry(['cluster', 'ls']).stdout.trim().split('\n').length, 1, 'no cluster listed');
  });
});
