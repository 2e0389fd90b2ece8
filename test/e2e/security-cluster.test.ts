/**
 * Issue 11, the cluster's boundaries with kubectl 1.33 and restricted credentials: RBAC escalation
 * checks, paging tokens (SQLite and etcd), validation of what reaches a node, token audiences, CRD
 * groups, the join token, a node's own certificate under the node authorizer, the agent's handling of
 * malformed exec frames and the API server's verification of the agent it dials.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import WebSocket from 'ws';
import {
  agentArgs,
  Cleanup,
  GANTRY,
  hasKubectl,
  kubectl,
  nodeBootstrapToken,
  run,
  runAsync,
  seedRegistry,
  startDaemon,
  startEtcd,
  startProcess,
  startRegistry,
  startServer,
  waitFor,
  type ClusterServer,
  type Daemon,
} from './helpers.js';

type Result = { code: number; stdout: string; stderr: string };

/** kubectl as the server's admin, and as the holder of a bearer token (no admin credentials at all). */
function clients(server: ClusterServer): {
  k: (args: string[]) => Result;
  ok: (args: string[]) => string;
  as: (token: string, args: string[]) => Result;
  apply: (yaml: string) => Result;
} {
  const k = (args: string[]): Result => run(kubectl, args, { env: server.env });
  const ok = (args: string[]): string => {
    const r = k(args);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const as = (token: string, args: string[]): Result =>
    run(kubectl, [
      '--kubeconfig=/dev/null',
      `--server=${server.url}`,
      `--certificate-authority=${path.join(server.dir, 'tls', 'ca.crt')}`,
      `--token=${token}`,
      ...args,
    ]);
  const apply = (yaml: string): Result => run(kubectl, ['apply', '-f', '-'], { env: server.env, input: yaml });
  return { k, ok, as, apply };
}

/** A raw request with curl: the status code and the body. */
function curl(url: string, args: string[]): { status: number; body: string } {
  const r = run('curl', ['-s', '-o', '-', '-w', '\n%{http_code}', ...args, url]);
  const at = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) };
}

const b64url = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('cluster API boundaries', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  let c: ReturnType<typeof clients>;

  before(async () => {
    server = await startServer(cleanup);
    c = clients(server);
    c.ok(['create', 'namespace', 'sec']);
    c.ok(['-n', 'sec', 'create', 'serviceaccount', 'binder']);
  });
  after(() => cleanup.run());

  test('RBAC: a binding or role grants only what its author holds, or what bind/escalate allow', () => {
    // The account may write roles and rolebindings in its namespace, and nothing else.
    c.ok([
      '-n',
      'sec',
      'create',
      'role',
      'rbac-writer',
      '--verb=get,list,create,update,patch',
      '--resource=rolebindings.rbac.authorization.k8s.io,roles.rbac.authorization.k8s.io',
    ]);
    c.ok(['-n', 'sec', 'create', 'rolebinding', 'binder-writes', '--role=rbac-writer', '--serviceaccount=sec:binder']);
    const token = c.ok(['-n', 'sec', 'create', 'token', 'binder']).trim();
    const groups = '(groups=["system:serviceaccounts" "system:serviceaccounts:sec" "system:authenticated"])';
    const notHeld = (r: Result, kind: string, name: string): void => {
      assert.notEqual(r.code, 0);
      assert.ok(
        r.stderr.includes(
          `${kind}.rbac.authorization.k8s.io "${name}" is forbidden: user "system:serviceaccount:sec:binder" ${groups} is attempting to grant RBAC permissions not currently held:`,
        ),
        r.stderr,
      );
    };
    // Binding itself to cluster-admin, to admin, or making a role with more than it holds: refused.
    notHeld(
      c.as(token, [
        '-n',
        'sec',
        'create',
        'rolebinding',
        'own-admin',
        '--clusterrole=cluster-admin',
        '--serviceaccount=sec:binder',
      ]),
      'rolebindings',
      'own-admin',
    );
    notHeld(
      c.as(token, [
        '-n',
        'sec',
        'create',
        'rolebinding',
        'own-edit',
        '--clusterrole=edit',
        '--serviceaccount=sec:binder',
      ]),
      'rolebindings',
      'own-edit',
    );
    notHeld(
      c.as(token, ['-n', 'sec', 'create', 'role', 'secrets-all', '--verb=*', '--resource=secrets']),
      'roles',
      'secrets-all',
    );
    // Adding itself to an existing binding of a bigger role is an escalation too.
    c.ok(['-n', 'sec', 'create', 'rolebinding', 'admins', '--clusterrole=admin', '--user=alice']);
    notHeld(
      c.as(token, [
        '-n',
        'sec',
        'patch',
        'rolebinding',
        'admins',
        '--type=json',
        '-p',
        '[{"op":"add","path":"/subjects/-","value":{"kind":"ServiceAccount","name":"binder","namespace":"sec"}}]',
      ]),
      'rolebindings',
      'admins',
    );
    // A role within what it holds is fine.
    assert.equal(
      c.as(token, [
        '-n',
        'sec',
        'create',
        'role',
        'rb-reader',
        '--verb=get,list',
        '--resource=rolebindings.rbac.authorization.k8s.io',
      ]).code,
      0,
    );
    assert.equal(c.as(token, ['-n', 'sec', 'auth', 'can-i', 'delete', 'secrets']).stdout.trim(), 'no');
    // With `bind` on cluster-admin it may bind it (in its namespace, which is all a RoleBinding reaches).
    c.ok([
      'create',
      'clusterrole',
      'bind-cluster-admin',
      '--verb=bind',
      '--resource=clusterroles.rbac.authorization.k8s.io',
      '--resource-name=cluster-admin',
    ]);
    c.ok([
      '-n',
      'sec',
      'create',
      'rolebinding',
      'binder-binds',
      '--clusterrole=bind-cluster-admin',
      '--serviceaccount=sec:binder',
    ]);
    const bound = c.as(token, [
      '-n',
      'sec',
      'create',
      'rolebinding',
      'own-admin',
      '--clusterrole=cluster-admin',
      '--serviceaccount=sec:binder',
    ]);
    assert.equal(bound.code, 0, bound.stderr);
    assert.equal(c.as(token, ['-n', 'sec', 'auth', 'can-i', 'delete', 'secrets']).stdout.trim(), 'yes');
    assert.equal(c.as(token, ['auth', 'can-i', 'list', 'nodes']).stdout.trim(), 'no');
  });

  test('ServiceAccount tokens: only the API server audience is accepted', () => {
    const other = c.ok(['-n', 'sec', 'create', 'token', 'binder', '--audience=https://vault.example.com']).trim();
    const r = c.as(other, ['-n', 'sec', 'get', 'rolebindings']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Unauthorized/);
    const both = c
      .ok([
        '-n',
        'sec',
        'create',
        'token',
        'binder',
        '--audience=https://vault.example.com',
        '--audience=https://kubernetes.default.svc.cluster.local',
      ])
      .trim();
    assert.equal(c.as(both, ['-n', 'sec', 'get', 'rolebindings', '-o', 'name']).code, 0);
  });

  test('validation: what would reach a node is refused with 422 and the field', () => {
    const invalid = (yaml: string, kind: string, name: string, field: RegExp): void => {
      const r = c.apply(yaml);
      assert.notEqual(r.code, 0, `${kind} ${name} was accepted`);
      assert.ok(r.stderr.includes(`The ${kind} "${name}" is invalid:`), r.stderr);
      assert.match(r.stderr, field);
    };
    invalid(
      'apiVersion: v1\nkind: Service\nmetadata: {name: outside}\nspec: {clusterIP: 192.168.7.7, ports: [{port: 80}]}\n',
      'Service',
      'outside',
      /spec\.clusterIPs\[0\]: Invalid value: "192\.168\.7\.7": provided IP is not in the valid range/,
    );
    invalid(
      'apiVersion: v1\nkind: Service\nmetadata: {name: shell}\nspec: {clusterIP: "10.43.0.9; rm -rf /", ports: [{port: 80}]}\n',
      'Service',
      'shell',
      /spec\.clusterIPs\[0\]/,
    );
    invalid(
      'apiVersion: v1\nkind: Service\nmetadata: {name: bigport}\nspec: {ports: [{port: 70000}]}\n',
      'Service',
      'bigport',
      /spec\.ports\[0\]\.port: Invalid value: 70000: must be between 1 and 65535, inclusive/,
    );
    invalid(
      'apiVersion: v1\nkind: Service\nmetadata: {name: badtarget}\nspec: {ports: [{port: 80, targetPort: "-j ACCEPT"}]}\n',
      'Service',
      'badtarget',
      /spec\.ports\[0\]\.targetPort/,
    );
    invalid(
      'apiVersion: v1\nkind: Endpoints\nmetadata: {name: ep}\nsubsets: [{addresses: [{ip: "1.2.3.4 -j ACCEPT"}], ports: [{port: 80}]}]\n',
      'Endpoints',
      'ep',
      /subsets\[0\]\.addresses\[0\]\.ip: Invalid value: "1\.2\.3\.4 -j ACCEPT": must be a valid IP address/,
    );
    invalid(
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: es}\naddressType: IPv4\nendpoints: [{addresses: ["10.0.0.1/8"]}]\nports: [{port: 80}]\n',
      'EndpointSlice',
      'es',
      /endpoints\[0\]\.addresses\[0\]/,
    );
    invalid(
      `apiVersion: v1\nkind: Pod\nmetadata: {name: volname}\nspec:\n  containers: [{name: c, image: busybox, volumeMounts: [{name: "../x", mountPath: /x}]}]\n  volumes: [{name: "../x", emptyDir: {}}]\n`,
      'Pod',
      'volname',
      /spec\.volumes\[0\]\.name/,
    );
    invalid(
      `apiVersion: v1\nkind: Pod\nmetadata: {name: items}\nspec:\n  containers: [{name: c, image: busybox}]\n  volumes: [{name: cfg, configMap: {name: cfg, items: [{key: a, path: ../../etc/cron.d/x}]}}]\n`,
      'Pod',
      'items',
      /spec\.volumes\[0\]\.configMap\.items\[0\]\.path: Invalid value: "\.\.\/\.\.\/etc\/cron\.d\/x": must not contain '\.\.'/,
    );
    invalid(
      `apiVersion: v1\nkind: Pod\nmetadata: {name: subpath}\nspec:\n  containers: [{name: c, image: busybox, volumeMounts: [{name: v, mountPath: /v, subPath: /etc}]}]\n  volumes: [{name: v, emptyDir: {}}]\n`,
      'Pod',
      'subpath',
      /spec\.containers\[0\]\.volumeMounts\[0\]\.subPath: Invalid value: "\/etc": must be a relative path/,
    );
    invalid(
      `apiVersion: v1\nkind: Pod\nmetadata: {name: cname}\nspec:\n  containers: [{name: "C_1", image: busybox}]\n`,
      'Pod',
      'cname',
      /spec\.containers\[0\]\.name/,
    );
    invalid(
      `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: tmpl}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: busybox}]\n      volumes: [{name: s, secret: {secretName: s, items: [{key: k, path: a/../../b}]}}]\n`,
      'Deployment',
      'tmpl',
      /spec\.template\.spec\.volumes\[0\]\.secret\.items\[0\]\.path/,
    );
    invalid(
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keys}\ndata: {"../evil": x}\n',
      'ConfigMap',
      'keys',
      /data\[\.\.\/evil\]|data: Invalid value: "\.\.\/evil"/,
    );
    assert.equal(
      c
        .k(['get', 'svc,endpoints,pods,deploy,cm', '-o', 'name'])
        .stdout.split('\n')
        .filter((l) => /outside|shell|bigport|badtarget|\/ep$|volname|items|subpath|cname|tmpl|keys/.test(l)).length,
      0,
      'nothing invalid was stored',
    );
  });

  test('CRDs: the group needs a dot and may not be built in; deleting one leaves built-in objects alone', () => {
    const crd = (plural: string, group: string): string =>
      `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ${plural}.${group}}\nspec:\n  group: ${group}\n  scope: Namespaced\n  names: {plural: ${plural}, singular: ${plural.slice(0, -1)}, kind: ${plural[0]!.toUpperCase()}${plural.slice(1, -1)}}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n`;
    const r1 = c.apply(crd('widgets', 'nodots'));
    assert.notEqual(r1.code, 0);
    assert.match(
      r1.stderr,
      /CustomResourceDefinition "widgets\.nodots" is invalid: spec\.group: Invalid value: "nodots": should be a domain with at least one dot/,
    );
    c.ok(['create', 'deployment', 'keep', '--image=busybox']);
    c.ok(['create', 'configmap', 'keep']);
    for (const [plural, group] of [
      ['deployments', 'apps'],
      ['configmaps', 'core'],
      ['roles', 'rbac.authorization.k8s.io'],
    ] as const) {
      const r = c.apply(crd(plural, group));
      assert.notEqual(r.code, 0, `a CRD in group ${group} was accepted`);
      assert.match(r.stderr, /spec\.group/);
    }
    const good = c.apply(crd('gadgets', 'example.com'));
    assert.equal(good.code, 0, good.stderr);
    c.ok(['delete', 'crd', 'gadgets.example.com']);
    assert.equal(
      c.ok(['get', 'deploy,cm', 'keep', '-o', 'name']).trim().split('\n').length,
      2,
      'built-in objects are still there',
    );
  });

  test('paging tokens: opaque and bound to the listed prefix; forged ones are a 400', () => {
    pagingChecks(server, c);
  });

  test('the join token only joins: it may ask for a certificate and do nothing else; a wrong one is refused', () => {
    const joinToken = nodeBootstrapToken(server);
    const asJoin = c.as(joinToken, ['get', 'secrets', '-A']);
    assert.notEqual(asJoin.code, 0);
    assert.match(
      asJoin.stderr,
      /secrets is forbidden: User "system:bootstrap:[a-z0-9]{6}" cannot list resource "secrets"/,
    );
    assert.equal(
      c.as(joinToken, ['auth', 'can-i', 'create', 'certificatesigningrequests.certificates.k8s.io']).stdout.trim(),
      'yes',
    );
    const [id] = joinToken.split('.');
    const wrong = c.as(`${id}.0000000000000000`, ['get', 'csr']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Unauthorized/);
  });
});

/** Lists of ConfigMaps in two namespaces: a real token pages on; forged ones are refused, never widened. */
function pagingChecks(server: ClusterServer, c: ReturnType<typeof clients>): void {
  for (const ns of ['page-a', 'page-b']) {
    c.ok(['create', 'namespace', ns]);
    for (const n of ['one', 'two', 'three']) c.ok(['-n', ns, 'create', 'configmap', n]);
  }
  c.ok(['-n', 'page-b', 'create', 'secret', 'generic', 'hidden', '--from-literal=k=v']);
  const list = (ns: string, cont?: string): { status: number; body: string } =>
    curl(
      `${server.url}/api/v1/namespaces/${ns}/configmaps?limit=1${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
      ['--cacert', path.join(server.dir, 'tls', 'ca.crt'), '-H', `Authorization: Bearer ${server.token}`],
    );
  const first = list('page-a');
  assert.equal(first.status, 200);
  const token = (JSON.parse(first.body) as { metadata: { continue: string } }).metadata.continue;
  const second = list('page-a', token);
  assert.equal(second.status, 200);
  assert.equal(
    (JSON.parse(second.body) as { items: Array<{ metadata: { namespace: string } }> }).items[0]!.metadata.namespace,
    'page-a',
  );
  const rv = (JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv: number }).rv;
  for (const forged of [
    'garbage',
    b64url({ v: 'meta.k8s.io/v1', rv, start: '../page-b/one' }),
    b64url({ v: 'meta.k8s.io/v1', rv, start: '/registry/secrets/' }),
    b64url({ v: 'meta.k8s.io/v1', rv, start: '../../secrets/page-b/hidden' }),
    b64url({ v: 'meta.k8s.io/v1', rv: -1, start: 'one' }),
    b64url({ v: 'x', rv, start: 'one' }),
  ]) {
    const r = list('page-a', forged);
    assert.equal(r.status, 400, `forged token ${forged}: ${r.body}`);
    assert.match(r.body, /continue key is not valid/);
    assert.doesNotMatch(r.body, /hidden|page-b/);
  }
}

describe(
  'paging tokens on etcd',
  {
    skip:
      (!hasKubectl && 'kubectl is not installed') ||
      (run('sh', ['-c', 'command -v etcd']).code !== 0 && 'etcd is not installed'),
  },
  () => {
    const cleanup = new Cleanup();
    let server: ClusterServer;
    before(async () => {
      const etcd = await startEtcd();
      cleanup.add(etcd.stop);
      server = await startServer(cleanup, ['--datastore-endpoint', etcd.endpoint, '--disable-controller-manager']);
    });
    after(() => cleanup.run());

    test('a forged continue token is a 400, never another namespace', () => {
      pagingChecks(server, clients(server));
    });
  },
);

describe('a node and its agent', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  let d: Daemon;
  let c: ReturnType<typeof clients>;
  let agent: ReturnType<typeof startProcess>;
  let pki: string;
  const engineContainers = (): string[] =>
    run('docker', ['ps', '-a', '--filter', 'label=io.kubernetes.pod.uid', '--format', '{{.Names}}'], { env: d.env })
      .stdout.split('\n')
      .filter(Boolean);
  /** A request with the node's own client certificate. */
  const asNode = (method: string, urlPath: string, body?: unknown): { status: number; body: string } =>
    curl(`${server.url}${urlPath}`, [
      '-X',
      method,
      '--cacert',
      path.join(server.dir, 'tls', 'ca.crt'),
      '--cert',
      path.join(pki, 'client.crt'),
      '--key',
      path.join(pki, 'client.key'),
      ...(body ? ['-H', 'Content-Type: application/merge-patch+json', '--data', JSON.stringify(body)] : []),
    ]);

  before(async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}`, insecure: [reg.addr] });
    server = await startServer(cleanup);
    c = clients(server);
    const args = await agentArgs(server, d, 'node-1');
    pki = path.join(args[args.indexOf('--data-dir') + 1]!, 'pki');
    agent = startProcess(cleanup, GANTRY, args, path.join(server.dir, 'agent.log'));
    cleanup.add(() => {
      for (const name of engineContainers()) run('docker', ['rm', '-f', name], { env: d.env });
    });
    await waitFor(() => /node-1\s+Ready/.test(c.k(['get', 'nodes']).stdout), 'the node to be Ready', 30000);
    c.ok(['create', 'secret', 'generic', 'used', '--from-literal=k=v']);
    c.ok(['create', 'secret', 'generic', 'unused', '--from-literal=k=v']);
    c.ok(['create', 'configmap', 'unused-cm', '--from-literal=k=v']);
    c.apply(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: app}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, "3600"]\n    env: [{name: K, valueFrom: {secretKeyRef: {name: used, key: k}}}]\n',
    );
    await waitFor(
      () => c.k(['get', 'pod', 'app', '-o', 'jsonpath={.status.phase}']).stdout === 'Running',
      'the pod to run',
      60000,
    );
  });
  after(() => cleanup.run());

  test('the agent is system:node:node-1 from its own certificate; no token is in any process list', () => {
    const who = curl(`${server.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`, [
      '-X',
      'POST',
      '--cacert',
      path.join(server.dir, 'tls', 'ca.crt'),
      '--cert',
      path.join(pki, 'client.crt'),
      '--key',
      path.join(pki, 'client.key'),
      '-H',
      'Content-Type: application/json',
      '--data',
      '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
    ]);
    assert.equal(who.status, 201, who.body);
    const user = (JSON.parse(who.body) as { status: { userInfo: { username: string; groups: string[] } } }).status
      .userInfo;
    assert.equal(user.username, 'system:node:node-1');
    assert.ok(user.groups.includes('system:nodes'));
    const secrets = [nodeBootstrapToken(server), server.token, nodeBootstrapToken(server).split('.')[1]!];
    for (const pid of [agent.pid!, server.proc.pid!]) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      for (const s of secrets) assert.ok(!argv.includes(s), `process ${pid} carries a token in its arguments`);
    }
  });

  test('the node authorizer: a node reads what its pods use, and writes only its own objects', () => {
    assert.equal(asNode('GET', '/api/v1/namespaces/default/secrets/used').status, 200);
    for (const denied of [
      '/api/v1/namespaces/default/secrets/unused',
      '/api/v1/namespaces/default/configmaps/unused-cm',
      '/api/v1/namespaces/default/secrets',
      '/api/v1/secrets',
      `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${nodeBootstrapToken(server).split('.')[0]}`,
    ]) {
      const r = asNode('GET', denied);
      assert.equal(r.status, 403, `${denied}: ${r.body}`);
      assert.match(r.body, /User \\?"system:node:node-1\\?"/);
    }
    // Another node's objects and pods are not this node's to write.
    c.apply('apiVersion: v1\nkind: Node\nmetadata: {name: node-2}\n');
    c.apply(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: elsewhere}\nspec:\n  nodeName: node-2\n  containers: [{name: c, image: busybox}]\n',
    );
    assert.equal(asNode('PATCH', '/api/v1/nodes/node-2/status', { status: { conditions: [] } }).status, 403);
    assert.equal(asNode('PATCH', '/api/v1/nodes/node-2', { metadata: { labels: { taken: 'yes' } } }).status, 403);
    assert.equal(
      asNode('PATCH', '/api/v1/namespaces/default/pods/elsewhere/status', { status: { phase: 'Failed' } }).status,
      403,
    );
    assert.equal(asNode('DELETE', '/api/v1/namespaces/default/pods/elsewhere').status, 403);
    assert.equal(asNode('GET', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings').status, 403);
    // Its own node and pods are.
    assert.equal(asNode('PATCH', '/api/v1/nodes/node-1', { metadata: { labels: { mine: 'yes' } } }).status, 200);
    assert.equal(c.ok(['get', 'pod', 'elsewhere', '-o', 'jsonpath={.status.phase}']), 'Pending');
    c.ok(['delete', 'pod', 'elsewhere', '--grace-period=0', '--force']);
    c.ok(['delete', 'node', 'node-2']);
  });

  test('malformed exec frames never stop the agent', async () => {
    const url = `${server.url.replace('https', 'wss')}/api/v1/namespaces/default/pods/app/exec?command=cat&stdin=true&stdout=true&tty=true`;
    for (let round = 0; round < 3; round++) {
      const ws = new WebSocket(url, ['v4.channel.k8s.io'], {
        ca: readFileSync(path.join(server.dir, 'tls', 'ca.crt')),
        headers: { Authorization: `Bearer ${server.token}` },
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const resize = (text: string): Buffer => Buffer.concat([Buffer.from([4]), Buffer.from(text)]);
      for (const frame of [
        Buffer.alloc(0),
        resize('not json'),
        resize('{"Width":-1,"Height":1e309}'),
        resize('{"Width":"80","Height":{}}'),
        resize('null'),
        resize('[]'),
        Buffer.from([9, 1, 2, 3]),
        Buffer.from([255]),
        Buffer.from([255, 7]),
        resize('{"Width":70000,"Height":70000}'),
        Buffer.concat([Buffer.from([4]), Buffer.alloc(1 << 20, 0x7b)]),
      ])
        ws.send(frame);
      ws.send('text frame, not binary');
      ws.send(Buffer.from([0, 0x68, 0x69, 0x0a]));
      await new Promise((r) => setTimeout(r, 300));
      ws.close();
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(agent.exitCode, null, 'the agent is still running');
    assert.equal(c.ok(['exec', 'app', '--', 'echo', 'still here']), 'still here\n');
  });

  test('the agent endpoint serves only the API server: no client certificate, or a node one, is refused', () => {
    const port = Number(
      c.ok(['get', 'node', 'node-1', '-o', 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}']),
    );
    assert.equal(curl(`https://127.0.0.1:${port}/containerLogs/default/app/c`, ['-k']).status, 401);
    assert.equal(
      curl(`https://127.0.0.1:${port}/containerLogs/default/app/c`, [
        '-k',
        '--cert',
        path.join(pki, 'client.crt'),
        '--key',
        path.join(pki, 'client.key'),
      ]).status,
      401,
    );
  });

  test('the API server dials an agent only over TLS verified for that node', async () => {
    // Impostors on a port of their own: self-signed, and signed by the cluster CA for another node.
    const dir = path.join(server.dir, 'impostor');
    run('mkdir', ['-p', dir]);
    const ca = path.join(server.dir, 'tls');
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${dir}/self.key`,
      '-out',
      `${dir}/self.crt`,
      '-subj',
      '/O=system:nodes/CN=system:node:fake',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
    ]);
    run('openssl', [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${dir}/other.key`,
      '-out',
      `${dir}/other.csr`,
      '-subj',
      '/O=system:nodes/CN=system:node:other',
    ]);
    writeFileSync(`${dir}/ext`, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    run('openssl', [
      'x509',
      '-req',
      '-in',
      `${dir}/other.csr`,
      '-CA',
      `${ca}/ca.crt`,
      '-CAkey',
      `${ca}/ca.key`,
      '-CAcreateserial',
      '-out',
      `${dir}/other.crt`,
      '-days',
      '1',
      '-extfile',
      `${dir}/ext`,
    ]);
    for (const name of ['self', 'other']) {
      const requests: string[] = [];
      const impostor = https.createServer(
        { key: readFileSync(`${dir}/${name}.key`), cert: readFileSync(`${dir}/${name}.crt`) },
        (req, res) => {
          requests.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
          res.end('secret logs\n');
        },
      );
      await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', () => r()));
      try {
        const port = (impostor.address() as { port: number }).port;
        c.apply('apiVersion: v1\nkind: Node\nmetadata: {name: fake}\n');
        c.ok([
          'patch',
          'node',
          'fake',
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({
            status: {
              addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
              daemonEndpoints: { kubeletEndpoint: { Port: port } },
            },
          }),
        ]);
        c.apply(
          'apiVersion: v1\nkind: Pod\nmetadata: {name: onfake}\nspec:\n  nodeName: fake\n  containers: [{name: c, image: busybox}]\n',
        );
        // Asynchronously: the impostor answers from this very process.
        const logs = await runAsync(kubectl, ['logs', 'onfake', '--request-timeout=20s'], { env: server.env });
        assert.notEqual(logs.code, 0, `${name}: the API server read logs from an impostor`);
        assert.doesNotMatch(logs.stdout, /secret logs/);
        assert.match(logs.stderr, /the agent of node "fake" cannot be reached: .*(self-signed|not for node "fake")/);
        assert.deepEqual(requests, [], `${name}: the impostor was sent a request`);
      } finally {
        impostor.close();
        c.k(['delete', 'pod', 'onfake', '--grace-period=0', '--force']);
        c.k(['delete', 'node', 'fake']);
      }
    }
  });
});
