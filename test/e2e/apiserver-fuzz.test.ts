/**
 * Issue 19: the API server's answer to valid objects mutated field by field (every field, nested
 * ones included, replaced by values of every JSON shape, numbers out of range, odd and over-long
 * strings), created and replaced: a 4xx or a real success, never a 5xx or a hang, and afterwards
 * kubectl and the Python client still read every listing — nothing of the wrong type was stored.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { Cleanup, hasKubectl, hasPython, kubectl, run, startServer } from './helpers.js';
import { fieldPaths, PALETTE, replaced, type Json } from './fuzz.js';

const container: Json = {
  name: 'c',
  image: 'busybox',
  command: ['sh', '-c', 'sleep 1'],
  ports: [{ containerPort: 8080, protocol: 'TCP', name: 'http' }],
  env: [{ name: 'A', value: '1' }],
  resources: { limits: { cpu: '100m', memory: '64Mi' }, requests: { cpu: 0.05 } },
  livenessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 10 },
  securityContext: { runAsUser: 1000, readOnlyRootFilesystem: true },
};

const podSpec: Json = {
  containers: [container],
  restartPolicy: 'Always',
  terminationGracePeriodSeconds: 1,
  nodeSelector: { disk: 'ssd' },
  tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }],
};

const BODIES: Array<{ path: string; body: Json }> = [
  {
    path: '/apis/apps/v1/namespaces/default/deployments',
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x', labels: { app: 'x' }, annotations: { note: 'n' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'x' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
        template: { metadata: { labels: { app: 'x' } }, spec: podSpec },
      },
    },
  },
  {
    path: '/api/v1/namespaces/default/services',
    body: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'x' },
      spec: { type: 'ClusterIP', selector: { app: 'x' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    },
  },
  {
    path: '/api/v1/namespaces/default/configmaps',
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 'b' }, binaryData: { b: 'aGk=' } },
  },
  {
    path: '/api/v1/namespaces/default/secrets',
    body: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'x' },
      type: 'Opaque',
      data: { a: 'aGVsbG8=' },
      stringData: { b: 'plain' },
    },
  },
  {
    path: '/api/v1/namespaces/default/pods',
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', labels: { app: 'x' } }, spec: podSpec },
  },
  {
    path: '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles',
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'x' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
    },
  },
];

describe('API server fuzz', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: Awaited<ReturnType<typeof startServer>>;

  function call(method: string, p: string, body: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        `${server.url}${p}`,
        {
          method,
          rejectUnauthorized: false,
          timeout: 30_000,
          headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${p} hung`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  before(async () => {
    // The API server alone: what is stored is what the requests made.
    server = await startServer(cleanup, ['--disable-controller-manager']);
  });
  after(() => cleanup.run());

  test('1,000+ objects mutated field by field, created and replaced: never a 5xx; every listing still parses', async (t) => {
    let count = 0;
    const statuses = new Map<number, number>();
    const check = async (method: string, p: string, body: Json): Promise<void> => {
      const text = JSON.stringify(body);
      const r = await call(method, p, text);
      count++;
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.ok(
        r.status > 0 && r.status < 500,
        `${method} ${p} ${text.slice(0, 300)} -> ${r.status}: ${r.text.slice(0, 300)}`,
      );
    };
    for (const { path: p, body } of BODIES) {
      // The object every replacement starts from.
      const target = replaced(body, ['metadata', 'name'], 'target');
      const made = await call('POST', p, JSON.stringify(target));
      assert.equal(made.status, 201, made.text);
      for (const at of fieldPaths(body)) {
        for (const value of PALETTE) {
          const mutated = replaced(body, at, value);
          // Names stay unique unless the name (or all metadata) is what is mutated.
          const keepsName = at[0] === 'metadata' && (at.length === 1 || at[1] === 'name');
          await check('POST', p, keepsName ? mutated : replaced(mutated, ['metadata', 'name'], `f${count}`));
          if (!keepsName) await check('PUT', `${p}/target`, replaced(mutated, ['metadata', 'name'], 'target'));
        }
      }
    }
    assert.ok(count >= 1000, `${count} requests`);
    t.diagnostic(`${count} requests, answered ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.ok((statuses.get(400) ?? 0) + (statuses.get(422) ?? 0) > count / 3, JSON.stringify([...statuses]));

    // Whatever was accepted is something clients read back.
    const listing = run(kubectl, ['get', 'deployments,services,configmaps,secrets,pods,roles', '-A', '-o', 'json'], {
      env: server.env,
    });
    assert.equal(listing.code, 0, listing.stderr);
    const items = (JSON.parse(listing.stdout) as { items: unknown[] }).items;
    assert.ok(items.length > 6, `${items.length} objects listed`);
    const table = run(kubectl, ['get', 'deployments,services,configmaps,secrets,pods,roles', '-A'], {
      env: server.env,
    });
    assert.equal(table.code, 0, table.stderr);
    if (hasPython('kubernetes')) {
      const py = run(
        'python3',
        [
          '-c',
          `from kubernetes import client, config
config.load_kube_config()
core, apps, rbac = client.CoreV1Api(), client.AppsV1Api(), client.RbacAuthorizationV1Api()
n = [len(x.items) for x in (apps.list_deployment_for_all_namespaces(), core.list_service_for_all_namespaces(),
     core.list_config_map_for_all_namespaces(), core.list_secret_for_all_namespaces(),
     core.list_pod_for_all_namespaces(), rbac.list_role_for_all_namespaces())]
print(n)`,
        ],
        { env: server.env, timeoutMs: 120_000 },
      );
      assert.equal(py.code, 0, py.stderr);
    }
  });
});
