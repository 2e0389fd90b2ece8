/**
 * The built-in ingress controller on a one-node cluster with real containers (the agent's proxy on
 * ports of the test's own): the default IngressClass `gantry`, two hosts routed to two Services,
 * plain and with TLS from a Secret (SNI), `kubectl create ingress`, ADDRESS filled in status, a missing
 * Service answering 503, and an invalid Ingress refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import {
  Cleanup,
  kubectlFor,
  freePort,
  hasKubectl,
  kubectl,
  run,
  startOneNodeCluster,
  tempDir,
  waitFor,
  type ClusterServer,
} from './helpers.js';

describe('ingress', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  let httpPort = 0;
  let httpsPort = 0;
  const { ok } = kubectlFor(() => server.env);
  const get = (host: string, p = '/'): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: httpPort, path: p, headers: { host }, agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  const getTls = (host: string): Promise<{ body: string; subject: string }> =>
    new Promise((resolve, reject) => {
      const req = https.get(
        {
          host: '127.0.0.1',
          port: httpsPort,
          path: '/',
          servername: host,
          headers: { host },
          rejectUnauthorized: false,
          agent: false,
        },
        (res) => {
          const subject = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN ?? '');
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ body, subject }));
        },
      );
      req.on('error', reject);
    });

  const site = (name: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        command: [sh, -c, 'mkdir -p /w/api && echo ${name} > /w/index.html && echo ${name}-api > /w/api/index.html && httpd -f -p 8080 -h /w']
        ports: [{containerPort: 8080, name: web}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec: {selector: {app: ${name}}, ports: [{name: http, port: 80, targetPort: web}]}
`;

  before(async () => {
    httpPort = await freePort();
    httpsPort = await freePort();
    ({ server } = await startOneNodeCluster(
      cleanup,
      'edge-1',
      [],
      ['--ingress-http-port', String(httpPort), '--ingress-https-port', String(httpsPort)],
    ));
    ok(['apply', '-f', '-'], site('alpha') + '---\n' + site('beta'));
    ok(['rollout', 'status', 'deploy/alpha', '--timeout=90s']);
    ok(['rollout', 'status', 'deploy/beta', '--timeout=90s']);
  });
  after(() => cleanup.run());

  test('the default IngressClass is gantry; another with parameters is shown and checked as Kubernetes does', () => {
    assert.match(
      ok(['get', 'ingressclass']),
      /^NAME\s+CONTROLLER\s+PARAMETERS\s+AGE\ngantry\s+gantry\.io\/ingress\s+<none>\s+/,
    );
    const withParams = (extra: string): { code: number; stderr: string } =>
      run(kubectl, ['apply', '-f', '-'], {
        env: server.env,
        input: `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: external}
spec:
  controller: example.com/ingress-controller
  parameters: {apiGroup: k8s.example.com, kind: IngressParameters, name: external-lb${extra}}
`,
      });
    assert.equal(withParams('').code, 0);
    assert.match(
      ok(['get', 'ingressclass', 'external']),
      /external\s+example\.com\/ingress-controller\s+IngressParameters\.k8s\.example\.com\/external-lb\s+/,
    );
    assert.equal(ok(['get', 'ingressclass', 'external', '-o', 'jsonpath={.spec.parameters.scope}']), 'Cluster');
    assert.match(
      withParams(', scope: Namespace').stderr,
      /spec\.parameters\.namespace: Required value: `parameters\.scope` is set to 'Namespace'/,
    );
    ok(['delete', 'ingressclass', 'external']);
  });

  test('two hosts to two Services, plain and with TLS by SNI; ADDRESS in status', async () => {
    const dir = tempDir(cleanup, 'gantry-tls-');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=beta.test', '-addext', 'subjectAltName=DNS:beta.test',
      '-keyout', path.join(dir, 'tls.key'), '-out', path.join(dir, 'tls.crt'),
    ], { stdio: 'ignore' }); // prettier-ignore
    ok([
      'create',
      'secret',
      'tls',
      'beta-tls',
      `--cert=${path.join(dir, 'tls.crt')}`,
      `--key=${path.join(dir, 'tls.key')}`,
    ]);
    ok(['create', 'ingress', 'alpha', '--rule=alpha.test/*=alpha:80']);
    ok(['create', 'ingress', 'beta', '--rule=beta.test/*=beta:http,tls=beta-tls', '--rule=beta.test/api=beta:80']);
    assert.equal(ok(['get', 'ingress', 'alpha', '-o', 'jsonpath={.spec.ingressClassName}']), 'gantry');
    await waitFor(async () => (await get('alpha.test')).body === 'alpha\n', 'alpha.test to reach alpha', 30_000);
    assert.equal((await get('beta.test')).body, 'beta\n');
    assert.equal((await get('beta.test', '/api/')).body, 'beta-api\n');
    assert.equal((await get('nobody.test')).status, 404);
    const secure = await getTls('beta.test');
    assert.equal(secure.body, 'beta\n');
    assert.equal(secure.subject, 'beta.test');
    await waitFor(
      () => /^beta\s+gantry\s+beta\.test\s+\d+\.\d+\.\d+\.\d+\s+80, 443\s+/m.test(ok(['get', 'ingress'])),
      'the ingress ADDRESS',
      20_000,
    );
  });

  test('an Ingress naming a missing Service answers 503; an invalid one is refused', async () => {
    ok(['create', 'ingress', 'ghost', '--rule=ghost.test/*=nosuch:80']);
    await waitFor(async () => (await get('ghost.test')).status === 503, 'the missing Service to answer 503', 20_000);
    const bad = run(kubectl, ['apply', '-f', '-'], {
      env: server.env,
      input: `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bad}
spec:
  rules:
  - host: bad.test
    http:
      paths:
      - {path: /, backend: {service: {name: alpha, port: {number: 80}}}}
`,
    });
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /spec\.rules\[0\]\.http\.paths\[0\]\.pathType: Required value: pathType must be specified/,
    );
  });
});
