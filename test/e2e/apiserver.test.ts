/**
 * Issue 6 (in progress): the API server with the real kubectl (1.33 main, 1.27 older), over the admin
 * kubeconfig the server writes, state in SQLite.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Cleanup, freePort, GANTRY, run, startProcess, tempDir, waitFor } from './helpers.js';

const KUBECTL_DIR = '/usr/lib/google-cloud-sdk/bin';
const kubectl133 = existsSync(`${KUBECTL_DIR}/kubectl.1.33`) ? `${KUBECTL_DIR}/kubectl.1.33` : 'kubectl';
const kubectl127 = `${KUBECTL_DIR}/kubectl.1.27`;

const DEPLOYMENT = (image: string): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: kubia
spec:
  replicas: 1
  selector:
    matchLabels: {app: kubia}
  template:
    metadata:
      labels: {app: kubia}
    spec:
      containers:
      - name: kubia
        image: ${image}
        ports: [{containerPort: 8080}]
      - name: sidecar
        image: busybox
---
apiVersion: v1
kind: Service
metadata:
  name: kubia-http
spec:
  type: LoadBalancer
  selector: {app: kubia}
  ports: [{port: 8080}]
`;

const hasKubectl = existsSync(kubectl133) || run('sh', ['-c', 'command -v kubectl']).code === 0;

describe('API server with kubectl', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let env: Record<string, string>;
  let dir: string;
  const k = (args: string[], bin = kubectl133): { code: number; stdout: string; stderr: string } => run(bin, args, { env });
  const ok = (args: string[], bin = kubectl133): string => {
    const r = k(args, bin);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    dir = tempDir(cleanup);
    const port = await freePort();
    startProcess(cleanup, GANTRY, ['server', '--data-dir', dir, '--https-listen-port', String(port), '--bind-address', '127.0.0.1'], path.join(dir, 'server.log'));
    await waitFor(() => existsSync(path.join(dir, 'kubeconfig.yaml')), 'the kubeconfig', 20000);
    env = { KUBECONFIG: path.join(dir, 'kubeconfig.yaml') };
  });
  after(() => cleanup.run());

  test('cluster-info, built-in namespaces and the kubernetes Service; anonymous requests refused', async () => {
    assert.match(ok(['cluster-info']), /Kubernetes control plane is running at https:\/\/127\.0\.0\.1:\d+/);
    assert.deepEqual(ok(['get', 'ns', '-o', 'jsonpath={.items[*].metadata.name}']).split(' '), ['default', 'kube-node-lease', 'kube-public', 'kube-system']);
    assert.match(ok(['get', 'svc', 'kubernetes']), /kubernetes\s+ClusterIP\s+10\.43\.0\.1\s+<none>\s+443\/TCP/);
    const server = /server: (\S+)/.exec(run('cat', [env.KUBECONFIG!]).stdout)![1]!;
    assert.match(run('curl', ['-sk', `${server}/api/v1/namespaces`]).stdout, /"code":\s*401/);
    assert.equal(run('curl', ['-sk', `${server}/healthz`]).stdout, 'ok');
  });

  test('apply: created, unchanged, configured (containers merged by name); get in every output', () => {
    const file = path.join(dir, 'app.yaml');
    writeFileSync(file, DEPLOYMENT('kubia:v1'));
    assert.equal(ok(['apply', '-f', file]), 'deployment.apps/kubia created\nservice/kubia-http created\n');
    assert.equal(ok(['apply', '-f', file]), 'deployment.apps/kubia unchanged\nservice/kubia-http unchanged\n');
    writeFileSync(file, DEPLOYMENT('kubia:v2'));
    assert.equal(ok(['apply', '-f', file]), 'deployment.apps/kubia configured\nservice/kubia-http unchanged\n');
    assert.equal(ok(['get', 'deploy', 'kubia', '-o', 'jsonpath={.spec.template.spec.containers[*].image}']), 'kubia:v2 busybox');
    assert.match(ok(['get', 'deployments']), /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nkubia\s+0\/1\s+0\s+0\s+\d+s\n$/);
    assert.match(ok(['get', 'deploy', '-o', 'wide']), /CONTAINERS\s+IMAGES\s+SELECTOR\nkubia.*kubia,sidecar\s+kubia:v2,busybox\s+app=kubia/);
    assert.match(ok(['get', 'services']), /kubia-http\s+LoadBalancer\s+10\.43\.\d+\.\d+\s+<pending>\s+8080:3\d{4}\/TCP/);
    assert.match(ok(['get', 'deploy', 'kubia', '-o', 'yaml']), /^kind: Deployment$/m);
    const json = JSON.parse(ok(['get', 'deploy', 'kubia', '-o', 'json'])) as { metadata: { generation: number; uid: string }; spec: { strategy: { type: string } } };
    assert.equal(json.metadata.generation, 2);
    assert.equal(json.spec.strategy.type, 'RollingUpdate', 'defaults applied');
    assert.match(ok(['get', 'deploy', '-o', 'custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas']), /^NAME\s+REPLICAS\nkubia\s+1\n$/);
    assert.match(ok(['get', 'all']), /deployment\.apps\/kubia/);
  });

  test('scale (generation bumps), label, annotate, patch of the three types, replace with a stale resourceVersion', () => {
    assert.equal(ok(['scale', 'deployment', 'kubia', '--replicas=3']), 'deployment.apps/kubia scaled\n');
    assert.equal(ok(['get', 'deploy', 'kubia', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}']), '3 3');
    ok(['label', 'deploy', 'kubia', 'tier=web']);
    ok(['annotate', 'deploy', 'kubia', 'note=hello']);
    assert.match(ok(['get', 'deploy', '-l', 'tier=web', '--show-labels']), /kubia.*tier=web/);
    assert.match(ok(['get', 'deploy', '-l', 'tier in (web,db)', '-o', 'name']), /deployment\.apps\/kubia/);
    assert.equal(ok(['get', 'deploy', '-l', 'tier!=web', '-o', 'name']), '');
    ok(['patch', 'deploy', 'kubia', '--type=merge', '-p', '{"spec":{"replicas":2}}']);
    ok(['patch', 'deploy', 'kubia', '--type=json', '-p', '[{"op":"replace","path":"/spec/replicas","value":4}]']);
    ok(['patch', 'deploy', 'kubia', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"kubia","image":"kubia:v3"}]}}}}']);
    assert.equal(ok(['get', 'deploy', 'kubia', '-o', 'jsonpath={.spec.replicas} {.spec.template.spec.containers[*].image}']), '4 kubia:v3 busybox');
    const stale = ok(['get', 'deploy', 'kubia', '-o', 'json']);
    ok(['annotate', 'deploy', 'kubia', 'again=yes']);
    const file = path.join(dir, 'stale.json');
    writeFileSync(file, stale);
    const replaced = k(['replace', '-f', file]);
    assert.notEqual(replaced.code, 0);
    assert.match(replaced.stderr, /Operation cannot be fulfilled on deployments\.apps "kubia": the object has been modified; please apply your changes to the latest version and try again/);
  });

  test('invalid names are refused with the reason; get -w sees changes; delete', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\ndata: {a: b}\n');
    const bad = k(['apply', '-f', file]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /ConfigMap "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    const watcher = spawn(kubectl133, ['get', 'configmaps', '-w', '-o', 'name'], { env: { ...process.env, ...env } });
    let seen = '';
    watcher.stdout.on('data', (c: Buffer) => (seen += c.toString()));
    cleanup.add(() => void watcher.kill('SIGKILL'));
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\ndata: {a: b}\n');
    await new Promise((r) => setTimeout(r, 500));
    ok(['apply', '-f', file]);
    await waitFor(() => seen.includes('configmap/watched'), 'the watch to show the new ConfigMap', 10000);
    watcher.kill('SIGKILL');
    assert.match(ok(['delete', '-f', path.join(dir, 'app.yaml')]), /deployment\.apps "kubia" deleted\nservice "kubia-http" deleted/);
    assert.match(k(['get', 'deploy', 'kubia']).stderr, /deployments\.apps "kubia" not found/);
  });

  test('malformed input gets 4xx Status answers, never a crash (1000+ requests)', async () => {
    const server = /server: (\S+)/.exec(run('cat', [env.KUBECONFIG!]).stdout)![1]!;
    const token = run('cat', [path.join(dir, 'token')]).stdout.trim();
    const { request } = await import('node:https');
    const call = (method: string, p: string, body: string | Buffer | undefined, type = 'application/json'): Promise<{ code: number; json: unknown }> =>
      new Promise((resolve, reject) => {
        const req = request(`${server}${p}`, { method, rejectUnauthorized: false, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type, ...(body !== undefined ? { 'Content-Length': Buffer.byteLength(body) } : {}) } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => {
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = text;
            }
            resolve({ code: res.statusCode ?? 0, json });
          });
        });
        req.on('error', reject);
        req.end(body);
      });
    const paths = ['/api/v1/namespaces/default/configmaps', '/apis/apps/v1/namespaces/default/deployments', '/api/v1/namespaces', '/api/v1/namespaces/default/services', '/api/v1/namespaces/nope/pods'];
    const bodies: Array<string | Buffer> = [
      '{', 'null', '[]', '"str"', '42', '{"kind":"Pod"}', '{"metadata":{"name":"UPPER"}}', '{"metadata":{"name":""}}', '{"metadata":{"name":"x","labels":{"bad key!":"v"}}}',
      '{"metadata":{"name":"x-"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":1}]}}', Buffer.alloc(4 << 20, 0x20), Buffer.from([0xff, 0xfe, 0x00]), '{"metadata":{"name":"' + 'a'.repeat(300) + '"}}',
    ];
    let count = 0;
    const statuses = new Set<number>();
    for (let round = 0; round < 16; round++) {
      for (const p of paths) {
        for (const b of bodies) {
          const r = await call('POST', p, b);
          count++;
          statuses.add(r.code);
          assert.ok(r.code >= 400 && r.code < 500, `POST ${p} ${String(b).slice(0, 40)} -> ${r.code}`);
          assert.equal((r.json as { kind?: string }).kind, 'Status');
        }
        for (const [method, suffix, body, type] of [
          ['GET', '?labelSelector=a%20in%20(', undefined, undefined],
          ['GET', '?fieldSelector=%%%', undefined, undefined],
          ['GET', '?watch=1&resourceVersion=abc', undefined, undefined],
          ['GET', '?continue=notbase64!!', undefined, undefined],
          ['PATCH', '/missing', '{}', 'application/merge-patch+json'],
          ['PATCH', '/x', 'not json', 'application/json-patch+json'],
          ['PUT', '/x', '{', 'application/json'],
          ['DELETE', '/missing', undefined, undefined],
          ['POST', '', '{}', 'text/plain; charset=binary'],
        ] as Array<[string, string, string | undefined, string | undefined]>) {
          const r = await call(method, p + suffix, body, type);
          count++;
          assert.ok(r.code >= 400 && r.code < 500, `${method} ${p}${suffix} -> ${r.code}: ${JSON.stringify(r.json).slice(0, 200)}`);
        }
      }
    }
    assert.ok(count >= 1000, `${count} requests`);
    const nodePort = await call('POST', '/api/v1/namespaces/default/services', '{"metadata":{"name":"np"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":1}]}}');
    assert.equal(nodePort.code, 422);
    assert.match(JSON.stringify(nodePort.json), /provided port is not in the valid range/);
    assert.match(ok(['get', 'ns', 'default', '-o', 'name']), /namespace\/default/, 'the server is still serving');
  });

  test('kubectl 1.27 does the core of the same', { skip: !existsSync(kubectl127) && 'kubectl 1.27 not installed' }, () => {
    const file = path.join(dir, 'old.yaml');
    writeFileSync(file, DEPLOYMENT('kubia:v1'));
    assert.match(ok(['apply', '-f', file], kubectl127), /deployment\.apps\/kubia created/);
    assert.match(ok(['get', 'deployments'], kubectl127), /kubia\s+0\/1/);
    ok(['scale', 'deployment', 'kubia', '--replicas=2'], kubectl127);
    assert.match(ok(['api-resources'], kubectl127), /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
    ok(['delete', '-f', file], kubectl127);
  });
});
