/**
 * Issue 6: the API server with the real kubectl (1.33 main, 1.27 older), over the admin kubeconfig the
 * server writes, state in SQLite.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KObject } from '../../src/cluster/api/object.js';
import { Cleanup, hasKubectl, kubectl as kubectl133, kubectl127, run, startServer, waitFor } from './helpers.js';

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

describe('API server with kubectl', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let env: Record<string, string>;
  let dir: string;
  let server: string;
  let token: string;
  const k = (args: string[], bin = kubectl133): { code: number; stdout: string; stderr: string } =>
    run(bin, args, { env });
  const ok = (args: string[], bin = kubectl133): string => {
    const r = k(args, bin);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    // The API server alone: controllers would add ReplicaSets, pods and status to what these tests check.
    ({ dir, env, url: server, token } = await startServer(cleanup, ['--disable-controller-manager']));
  });
  after(() => cleanup.run());

  test('cluster-info, built-in namespaces and the kubernetes Service; anonymous requests refused', async () => {
    assert.match(ok(['cluster-info']), /Kubernetes control plane is running at https:\/\/127\.0\.0\.1:\d+/);
    assert.deepEqual(ok(['get', 'ns', '-o', 'jsonpath={.items[*].metadata.name}']).split(' '), [
      'default',
      'kube-node-lease',
      'kube-public',
      'kube-system',
    ]);
    assert.match(ok(['get', 'svc', 'kubernetes']), /kubernetes\s+ClusterIP\s+10\.43\.0\.1\s+<none>\s+443\/TCP/);
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
    assert.equal(
      ok(['get', 'deploy', 'kubia', '-o', 'jsonpath={.spec.template.spec.containers[*].image}']),
      'kubia:v2 busybox',
    );
    assert.match(
      ok(['get', 'deployments']),
      /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nkubia\s+0\/1\s+0\s+0\s+\d+s\n$/,
    );
    assert.match(
      ok(['get', 'deploy', '-o', 'wide']),
      /CONTAINERS\s+IMAGES\s+SELECTOR\nkubia.*kubia,sidecar\s+kubia:v2,busybox\s+app=kubia/,
    );
    assert.match(
      ok(['get', 'services']),
      /kubia-http\s+LoadBalancer\s+10\.43\.\d+\.\d+\s+<pending>\s+8080:3\d{4}\/TCP/,
    );
    assert.match(ok(['get', 'deploy', 'kubia', '-o', 'yaml']), /^kind: Deployment$/m);
    const json = JSON.parse(ok(['get', 'deploy', 'kubia', '-o', 'json'])) as {
      metadata: { generation: number; uid: string };
      spec: { strategy: { type: string } };
    };
    assert.equal(json.metadata.generation, 2);
    assert.equal(json.spec.strategy.type, 'RollingUpdate', 'defaults applied');
    assert.match(
      ok(['get', 'deploy', '-o', 'custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas']),
      /^NAME\s+REPLICAS\nkubia\s+1\n$/,
    );
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
    ok([
      'patch',
      'deploy',
      'kubia',
      '-p',
      '{"spec":{"template":{"spec":{"containers":[{"name":"kubia","image":"kubia:v3"}]}}}}',
    ]);
    assert.equal(
      ok(['get', 'deploy', 'kubia', '-o', 'jsonpath={.spec.replicas} {.spec.template.spec.containers[*].image}']),
      '4 kubia:v3 busybox',
    );
    const before = ok(['get', 'deploy', 'kubia', '-o', 'jsonpath={.metadata.resourceVersion}']);
    ok(['patch', 'deploy', 'kubia', '--type=merge', '-p', '{"spec":{"replicas":4}}']);
    assert.equal(
      ok(['get', 'deploy', 'kubia', '-o', 'jsonpath={.metadata.resourceVersion}']),
      before,
      'a patch that changes nothing writes nothing',
    );
    const stale = ok(['get', 'deploy', 'kubia', '-o', 'json']);
    ok(['annotate', 'deploy', 'kubia', 'again=yes']);
    const file = path.join(dir, 'stale.json');
    writeFileSync(file, stale);
    const replaced = k(['replace', '-f', file]);
    assert.notEqual(replaced.code, 0);
    assert.match(
      replaced.stderr,
      /Operation cannot be fulfilled on deployments\.apps "kubia": the object has been modified; please apply your changes to the latest version and try again/,
    );
  });

  test('invalid names are refused with the reason; get -w sees changes; delete', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\ndata: {a: b}\n');
    const bad = k(['apply', '-f', file]);
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /ConfigMap "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    const watcher = spawn(kubectl133, ['get', 'configmaps', '-w', '-o', 'name'], { env: { ...process.env, ...env } });
    let seen = '';
    watcher.stdout.on('data', (c: Buffer) => (seen += c.toString()));
    cleanup.add(() => void watcher.kill('SIGKILL'));
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\ndata: {a: b}\n');
    await new Promise((r) => setTimeout(r, 500));
    ok(['apply', '-f', file]);
    await waitFor(() => seen.includes('configmap/watched'), 'the watch to show the new ConfigMap', 10000);
    watcher.kill('SIGKILL');
    assert.match(
      ok(['delete', '-f', path.join(dir, 'app.yaml')]),
      /deployment\.apps "kubia" deleted\nservice "kubia-http" deleted/,
    );
    assert.match(k(['get', 'deploy', 'kubia']).stderr, /deployments\.apps "kubia" not found/);
  });

  test('typed commands (protobuf bodies): create deployment, scale, expose, create of other kinds; api-resources; explain', () => {
    assert.equal(ok(['create', 'deployment', 'kubia', '--image=kubia:v1']), 'deployment.apps/kubia created\n');
    assert.match(
      ok(['get', 'deployments']),
      /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nkubia\s+0\/1\s+0\s+0\s+\d+s\n$/,
    );
    const created = JSON.parse(ok(['get', 'deploy', 'kubia', '-o', 'json'])) as {
      metadata: { labels: Record<string, string> };
      spec: { template: { spec: { containers: Array<{ image: string; resources: object }> } } };
      status: object;
    };
    assert.deepEqual(created.metadata.labels, { app: 'kubia' });
    assert.equal(created.spec.template.spec.containers[0]!.image, 'kubia:v1');
    assert.deepEqual(created.spec.template.spec.containers[0]!.resources, {}, 'empty structs kept as Go writes them');
    assert.deepEqual(created.status, {}, 'status starts empty');
    assert.equal(ok(['scale', 'deployment', 'kubia', '--replicas=3']), 'deployment.apps/kubia scaled\n');
    assert.equal(ok(['get', 'deploy', 'kubia', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}']), '3 2');
    assert.equal(
      ok(['expose', 'deployment', 'kubia', '--type=LoadBalancer', '--name', 'kubia-http', '--port=8080']),
      'service/kubia-http exposed\n',
    );
    assert.match(
      ok(['get', 'services']),
      /kubia-http\s+LoadBalancer\s+10\.43\.\d+\.\d+\s+<pending>\s+8080:3\d{4}\/TCP/,
    );
    ok(['create', 'namespace', 'typed']);
    ok(['-n', 'typed', 'create', 'configmap', 'settings', '--from-literal=mode=fast', '--from-literal=empty=']);
    assert.equal(ok(['-n', 'typed', 'get', 'cm', 'settings', '-o', 'jsonpath={.data}']), '{"empty":"","mode":"fast"}');
    ok(['-n', 'typed', 'create', 'secret', 'generic', 'pw', '--from-literal=password=s3cret']);
    assert.equal(
      ok(['-n', 'typed', 'get', 'secret', 'pw', '-o', 'jsonpath={.data.password}']),
      Buffer.from('s3cret').toString('base64'),
    );
    ok(['-n', 'typed', 'create', 'job', 'once', '--image=busybox', '--', 'echo', 'hi']);
    assert.equal(
      ok(['-n', 'typed', 'get', 'job', 'once', '-o', 'jsonpath={.spec.template.spec.containers[0].command}']),
      '["echo","hi"]',
    );
    ok(['-n', 'typed', 'create', 'cronjob', 'often', '--image=busybox', '--schedule=*/5 * * * *']);
    ok(['-n', 'typed', 'create', 'quota', 'small', '--hard=pods=2']);
    assert.equal(ok(['-n', 'typed', 'get', 'quota', 'small', '-o', 'jsonpath={.spec.hard}']), '{"pods":"2"}');
    ok(['-n', 'typed', 'create', 'pdb', 'keep', '--selector=app=x', '--min-available=0']);
    assert.equal(
      ok(['-n', 'typed', 'get', 'pdb', 'keep', '-o', 'jsonpath={.spec.minAvailable}']),
      '0',
      'an explicit zero survives',
    );
    ok(['create', 'priorityclass', 'low', '--value=0']);
    assert.match(ok(['api-resources']), /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
    assert.match(ok(['api-resources', '--namespaced=false']), /namespaces\s+ns\s+v1\s+false\s+Namespace/);
    const explained = ok(['explain', 'deployment.spec']);
    assert.match(explained, /GROUP:\s+apps\nKIND:\s+Deployment\nVERSION:\s+v1/);
    assert.match(explained, /FIELD: spec <DeploymentSpec>/);
    assert.match(explained, /replicas\t<integer>\n\s+Number of desired pods/);
    assert.match(explained, /template\t<PodTemplateSpec> -required-/);
    assert.match(ok(['explain', 'pods.spec.containers.image']), /FIELD: image <string>/);
    ok(['delete', 'deploy/kubia', 'svc/kubia-http', 'priorityclass/low']);
  });

  test('RBAC: roles, bindings, ServiceAccount tokens, auth can-i and whoami', async () => {
    assert.equal(ok(['auth', 'can-i', 'create', 'pods']), 'yes\n');
    assert.match(ok(['auth', 'whoami']), /Username\s+admin\nGroups\s+\[system:masters system:authenticated\]/);
    ok(['create', 'namespace', 'team']);
    await waitFor(
      () => k(['-n', 'team', 'get', 'sa', 'default']).code === 0,
      "the namespace's default ServiceAccount",
      5000,
    );
    ok(['-n', 'team', 'create', 'serviceaccount', 'bot']);
    const can = (args: string[]): string =>
      k(['auth', 'can-i', ...args, '--as=system:serviceaccount:team:bot']).stdout.trim();
    assert.equal(can(['list', 'pods', '-n', 'team']), 'no');
    ok(['-n', 'team', 'create', 'role', 'pod-reader', '--verb=get,list,watch', '--resource=pods']);
    ok(['-n', 'team', 'create', 'rolebinding', 'bot-reads', '--role=pod-reader', '--serviceaccount=team:bot']);
    assert.equal(can(['list', 'pods', '-n', 'team']), 'yes');
    assert.equal(can(['delete', 'pods', '-n', 'team']), 'no');
    assert.equal(can(['list', 'pods', '-n', 'default']), 'no');
    ok(['create', 'clusterrolebinding', 'bot-views', '--clusterrole=view', '--serviceaccount=team:bot']);
    assert.equal(can(['list', 'deployments', '-n', 'default']), 'yes');
    assert.equal(can(['list', 'secrets', '-n', 'default']), 'no');
    const token = ok(['-n', 'team', 'create', 'token', 'bot']).trim();
    const as = (args: string[], t = token): { code: number; stdout: string; stderr: string } =>
      run(kubectl133, [
        '--kubeconfig=/dev/null',
        `--server=${server}`,
        '--insecure-skip-tls-verify',
        `--token=${t}`,
        ...args,
      ]);
    assert.equal(as(['-n', 'team', 'get', 'pods']).code, 0);
    const denied = as(['-n', 'team', 'get', 'secrets']);
    assert.notEqual(denied.code, 0);
    assert.match(
      denied.stderr,
      /Error from server \(Forbidden\): secrets is forbidden: User "system:serviceaccount:team:bot" cannot list resource "secrets" in API group "" in the namespace "team"/,
    );
    assert.match(as(['auth', 'whoami']).stdout, /Username\s+system:serviceaccount:team:bot/);
    assert.match(as(['auth', 'can-i', '--list', '-n', 'team']).stdout, /pods\s+\[\]\s+\[\]\s+\[get list watch\]/);
    // A legacy token Secret gets its token; it stops working with its ServiceAccount.
    writeFileSync(
      path.join(dir, 'sa-secret.yaml'),
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: bot-token\n  namespace: team\n  annotations: {kubernetes.io/service-account.name: bot}\ntype: kubernetes.io/service-account-token\n',
    );
    ok(['apply', '-f', path.join(dir, 'sa-secret.yaml')]);
    const legacy = Buffer.from(
      ok(['-n', 'team', 'get', 'secret', 'bot-token', '-o', 'jsonpath={.data.token}']),
      'base64',
    ).toString();
    assert.equal(as(['-n', 'team', 'get', 'pods'], legacy).code, 0);
    ok(['-n', 'team', 'delete', 'serviceaccount', 'bot']);
    assert.match(as(['-n', 'team', 'get', 'pods']).stderr, /Unauthorized|must be logged in/);
    assert.match(as(['-n', 'team', 'get', 'pods'], 'not-a-token').stderr, /Unauthorized|must be logged in/);
    ok(['delete', 'clusterrolebinding', 'bot-views']);
  });

  test('delete: background, foreground and orphan cascades, preconditions, binding and eviction, a Terminating namespace', async () => {
    const owned = (name: string): void => {
      ok(['create', 'deployment', name, '--image=kubia']);
      const uid = ok(['get', 'deploy', name, '-o', 'jsonpath={.metadata.uid}']);
      const file = path.join(dir, `${name}-rs.yaml`);
      writeFileSync(
        file,
        `apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: ${name}-rs\n  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: ${name}, uid: ${uid}, controller: true, blockOwnerDeletion: true}]\nspec:\n  selector: {matchLabels: {app: ${name}}}\n  template:\n    metadata: {labels: {app: ${name}}}\n    spec: {containers: [{name: c, image: kubia}]}\n`,
      );
      ok(['apply', '-f', file]);
    };
    for (const name of ['bg', 'fg', 'orphan']) owned(name);
    assert.equal(ok(['delete', 'deploy', 'bg']), 'deployment.apps "bg" deleted\n');
    await waitFor(() => k(['get', 'rs', 'bg-rs']).code !== 0, 'the background cascade', 5000);
    assert.equal(ok(['delete', 'deploy', 'fg', '--cascade=foreground']), 'deployment.apps "fg" deleted\n');
    assert.notEqual(k(['get', 'rs', 'fg-rs']).code, 0, 'dependents go before their owner');
    assert.notEqual(k(['get', 'deploy', 'fg']).code, 0);
    assert.equal(ok(['delete', 'deploy', 'orphan', '--cascade=orphan']), 'deployment.apps "orphan" deleted\n');
    assert.equal(
      ok(['get', 'rs', 'orphan-rs', '-o', 'jsonpath={.metadata.ownerReferences}']),
      '',
      'the orphan keeps running without its owner',
    );
    ok(['delete', 'rs', 'orphan-rs']);
    // Preconditions, through the API as client libraries send them.
    ok(['create', 'configmap', 'guarded', '--from-literal=a=b']);
    const del = (body: string): string =>
      run('curl', [
        '-sk',
        '-X',
        'DELETE',
        '-H',
        `Authorization: Bearer ${token}`,
        '-H',
        'Content-Type: application/json',
        '-d',
        body,
        `${server}/api/v1/namespaces/default/configmaps/guarded`,
      ]).stdout;
    assert.match(
      del('{"preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}}'),
      /Precondition failed: UID in precondition[\s\S]*"code":409/,
    );
    assert.match(
      del('{"preconditions":{"resourceVersion":"1"}}'),
      /Precondition failed: ResourceVersion in precondition: 1/,
    );
    const rv = ok(['get', 'cm', 'guarded', '-o', 'jsonpath={.metadata.resourceVersion}']);
    assert.match(
      del(`{"preconditions":{"resourceVersion":"${rv}"},"propagationPolicy":"Background"}`),
      /"name":"guarded"/,
    );
    // The scheduler's binding and kubectl drain's eviction (refused while a disruption budget allows none).
    const post = (p: string, body: string): string =>
      run('curl', [
        '-sk',
        '-X',
        'POST',
        '-H',
        `Authorization: Bearer ${token}`,
        '-H',
        'Content-Type: application/json',
        '-d',
        body,
        `${server}${p}`,
      ]).stdout;
    ok(['run', 'bound', '--image=busybox', '--labels=app=bound']);
    assert.match(
      post(
        '/api/v1/namespaces/default/pods/bound/binding',
        '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"bound"},"target":{"kind":"Node","name":"node-1"}}',
      ),
      /"status":"Success"/,
    );
    assert.equal(ok(['get', 'pod', 'bound', '-o', 'jsonpath={.spec.nodeName}']), 'node-1');
    assert.match(
      post('/api/v1/namespaces/default/pods/bound/binding', '{"target":{"name":"node-2"}}'),
      /pod bound is already assigned to node \\"node-1\\"[\s\S]*"code":409/,
    );
    ok(['create', 'pdb', 'keep-bound', '--selector=app=bound', '--min-available=1']);
    assert.match(
      post(
        '/api/v1/namespaces/default/pods/bound/eviction',
        '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"bound"},"deleteOptions":{"gracePeriodSeconds":0}}',
      ),
      /Cannot evict pod as it would violate the pod's disruption budget[\s\S]*"code":429/,
    );
    ok(['delete', 'pdb', 'keep-bound']);
    assert.match(
      post(
        '/api/v1/namespaces/default/pods/bound/eviction',
        '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"bound"},"deleteOptions":{"gracePeriodSeconds":0}}',
      ),
      /"status":"Success"/,
    );
    assert.notEqual(k(['get', 'pod', 'bound']).code, 0);
    // A namespace is Terminating while something in it is held by a finalizer; nothing new goes in.
    ok(['create', 'namespace', 'doomed']);
    writeFileSync(
      path.join(dir, 'held.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: doomed\n  finalizers: [example.com/hold]\n',
    );
    ok(['apply', '-f', path.join(dir, 'held.yaml')]);
    ok(['create', 'configmap', 'plain', '-n', 'doomed']);
    assert.equal(ok(['delete', 'namespace', 'doomed', '--wait=false']), 'namespace "doomed" deleted\n');
    assert.match(ok(['get', 'ns', 'doomed']), /doomed\s+Terminating/);
    await waitFor(() => k(['-n', 'doomed', 'get', 'cm', 'plain']).code !== 0, 'the namespace to be emptied', 5000);
    const refused = k(['-n', 'doomed', 'create', 'configmap', 'late']);
    assert.match(
      refused.stderr,
      /forbidden: unable to create new content in namespace doomed because it is being terminated/,
    );
    ok(['-n', 'doomed', 'patch', 'cm', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await waitFor(() => k(['get', 'ns', 'doomed']).code !== 0, 'the namespace to go', 10000);
  });

  test('CustomResourceDefinitions: served, printed with their columns, explained, removed with their objects', async () => {
    writeFileSync(
      path.join(dir, 'crd.yaml'),
      `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string, description: The schedule in cron format.}
              replicas: {type: integer, minimum: 0}
              mode: {type: string, enum: [Allow, Forbid]}
`,
    );
    ok(['apply', '-f', path.join(dir, 'crd.yaml')]);
    assert.match(
      ok(['wait', '--for', 'condition=established', 'crd/crontabs.stable.example.com', '--timeout=10s']),
      /condition met/,
    );
    const cr = (replicas: number): string => {
      writeFileSync(
        path.join(dir, 'ct.yaml'),
        `apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: my-cron}\nspec: {cronSpec: "* * * * */5", replicas: ${replicas}}\n`,
      );
      return ok(['apply', '-f', path.join(dir, 'ct.yaml')]);
    };
    assert.equal(cr(2), 'crontab.stable.example.com/my-cron created\n');
    assert.match(ok(['get', 'ct']), /^NAME\s+SPEC\s+REPLICAS\nmy-cron\s+\* \* \* \* \*\/5\s+2\n$/);
    assert.equal(cr(3), 'crontab.stable.example.com/my-cron configured\n');
    assert.equal(ok(['get', 'crontab', 'my-cron', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}']), '3 2');
    assert.match(ok(['explain', 'crontab.spec']), /cronSpec\t<string>\n\s+The schedule in cron format\./);
    // Validated by the CRD's schema, unknown fields pruned.
    const bad = run(kubectl133, ['apply', '-f', '-'], {
      env,
      input: `apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: bad-cron}
spec: {cronSpec: 5, replicas: -1, mode: Sometimes}
`,
    });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /The CronTab "bad-cron" is invalid/);
    assert.match(
      bad.stderr,
      /\* spec.cronSpec: Invalid value: "integer": spec.cronSpec in body must be of type string: "integer"/,
    );
    assert.match(bad.stderr, /\* spec.mode: Unsupported value: "Sometimes": supported values: "Allow", "Forbid"/);
    assert.match(
      bad.stderr,
      /\* spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0/,
    );
    ok(['patch', 'crontab', 'my-cron', '--type=merge', '-p', '{"spec":{"unknownField":1},"junk":true}']);
    assert.equal(ok(['get', 'crontab', 'my-cron', '-o', 'jsonpath={.spec.unknownField}{.junk}']), '');
    assert.match(
      ok(['api-resources', '--api-group=stable.example.com']),
      /crontabs\s+ct\s+stable\.example\.com\/v1\s+true\s+CronTab/,
    );
    ok(['delete', 'crd', 'crontabs.stable.example.com']);
    assert.match(
      run('curl', [
        '-sk',
        '-H',
        `Authorization: Bearer ${token}`,
        `${server}/apis/stable.example.com/v1/namespaces/default/crontabs`,
      ]).stdout,
      /"code":\s*404/,
    );
  });

  test('HorizontalPodAutoscalers: one object through autoscaling/v2 and v1, each version in its own fields', () => {
    const v1File = path.join(dir, 'hpa-v1.yaml');
    writeFileSync(
      v1File,
      'apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: old}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  maxReplicas: 4\n  targetCPUUtilizationPercentage: 60\n',
    );
    ok(['apply', '-f', v1File]);
    const cpu = (percent: number): unknown => ({
      type: 'Resource',
      resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: percent } },
    });
    const oldV2 = JSON.parse(ok(['get', 'horizontalpodautoscalers.v2.autoscaling', 'old', '-o', 'json'])) as KObject;
    assert.equal(oldV2.apiVersion, 'autoscaling/v2');
    assert.deepEqual((oldV2.spec as { metrics: unknown }).metrics, [cpu(60)]);
    assert.equal((oldV2.spec as Record<string, unknown>).targetCPUUtilizationPercentage, undefined);

    const v2File = path.join(dir, 'hpa-v2.yaml');
    const memory = {
      type: 'Resource',
      resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '100Mi' } },
    };
    const behavior = { scaleDown: { stabilizationWindowSeconds: 60 } };
    writeFileSync(
      v2File,
      JSON.stringify({
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'new' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          maxReplicas: 5,
          metrics: [cpu(70), memory],
          behavior,
        },
      }),
    );
    ok(['apply', '-f', v2File]);
    const newV1 = JSON.parse(ok(['get', 'horizontalpodautoscalers.v1.autoscaling', 'new', '-o', 'json'])) as KObject;
    assert.equal(newV1.apiVersion, 'autoscaling/v1');
    assert.equal((newV1.spec as Record<string, unknown>).targetCPUUtilizationPercentage, 70);
    assert.equal((newV1.spec as Record<string, unknown>).metrics, undefined);
    assert.match(newV1.metadata?.annotations?.['autoscaling.alpha.kubernetes.io/metrics'] ?? '', /memory/);
    // Changed through v1: what only v2 can say stays.
    ok(['patch', 'horizontalpodautoscalers.v1.autoscaling', 'new', '--type=merge', '-p', '{"spec":{"maxReplicas":9}}']);
    const newV2 = JSON.parse(ok(['get', 'hpa', 'new', '-o', 'json'])) as KObject;
    assert.deepEqual(newV2.spec, {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 9,
      metrics: [cpu(70), memory],
      behavior,
    });
    assert.equal(newV2.metadata?.annotations?.['autoscaling.alpha.kubernetes.io/metrics'], undefined);
    assert.match(ok(['get', 'horizontalpodautoscalers.v1.autoscaling']), /new\s+Deployment\/web\s+cpu: <unknown>\/70%/);
    ok(['delete', 'hpa', 'old', 'new']);
  });

  test('field validation (Strict refuses, Warn warns), immutable fields, server-side apply, field selectors on events', () => {
    const file = path.join(dir, 'typo.yaml');
    writeFileSync(
      file,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: typo}\nspec:\n  replicass: 2\n  selector: {matchLabels: {app: typo}}\n  template:\n    metadata: {labels: {app: typo}}\n    spec:\n      containers: [{name: c, image: busybox, imagee: x}]\n',
    );
    const strict = k(['apply', '-f', file]);
    assert.notEqual(strict.code, 0);
    assert.match(
      strict.stderr,
      /Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec\.replicass", unknown field "spec\.template\.spec\.containers\[0\]\.imagee"/,
    );
    const lax = k(['create', '-f', file, '--validate=false']);
    assert.equal(lax.code, 0, lax.stderr);
    ok(['delete', 'deploy', 'typo']);
    const warned = run('curl', [
      '-sk',
      '-i',
      '-X',
      'POST',
      '-H',
      `Authorization: Bearer ${token}`,
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"metadata":{"name":"warned"},"dataa":{}}',
      `${server}/api/v1/namespaces/default/configmaps?fieldValidation=Warn`,
    ]).stdout;
    assert.match(warned, /HTTP\/1\.1 201[\s\S]*warning: 299 - "unknown field \\"dataa\\""/i);
    ok(['delete', 'cm', 'warned']);
    ok(['create', 'deployment', 'fixed', '--image=busybox']);
    assert.match(
      k(['patch', 'deploy', 'fixed', '--type=merge', '-p', '{"spec":{"selector":{"matchLabels":{"app":"other"}}}}'])
        .stderr,
      /The Deployment "fixed" is invalid: spec\.selector: Invalid value: .*: field is immutable/,
    );
    ok(['delete', 'deploy', 'fixed']);
    ok(['create', 'configmap', 'frozen', '--from-literal=a=b']);
    ok(['patch', 'cm', 'frozen', '--type=merge', '-p', '{"immutable":true}']);
    assert.match(
      k(['patch', 'cm', 'frozen', '--type=merge', '-p', '{"data":{"a":"c"}}']).stderr,
      /The ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set/,
    );
    ok(['delete', 'cm', 'frozen']);
    const ssa = path.join(dir, 'ssa.yaml');
    writeFileSync(ssa, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: "1"}\n');
    assert.equal(ok(['apply', '--server-side', '-f', ssa]), 'configmap/ssa serverside-applied\n');
    writeFileSync(ssa, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: "2", b: "3"}\n');
    assert.equal(ok(['apply', '--server-side', '-f', ssa]), 'configmap/ssa serverside-applied\n');
    assert.equal(ok(['get', 'cm', 'ssa', '-o', 'jsonpath={.data}']), '{"a":"2","b":"3"}');
    const events = path.join(dir, 'events.yaml');
    const event = (name: string, about: string, reason: string): string =>
      `apiVersion: v1\nkind: Event\nmetadata: {name: ${name}}\ninvolvedObject: {kind: Pod, name: ${about}, namespace: default}\nreason: ${reason}\ntype: Normal\nmessage: ${reason} ${about}\n`;
    writeFileSync(
      events,
      [event('e1', 'web-1', 'Pulled'), event('e2', 'web-2', 'Started'), event('e3', 'web-1', 'Started')].join('---\n'),
    );
    ok(['apply', '-f', events]);
    assert.equal(
      ok([
        'get',
        'events',
        '--field-selector',
        'involvedObject.name=web-1',
        '-o',
        'jsonpath={.items[*].metadata.name}',
      ]),
      'e1 e3',
    );
    assert.equal(
      ok([
        'get',
        'events',
        '--field-selector',
        'involvedObject.name=web-1,reason=Started',
        '-o',
        'jsonpath={.items[*].metadata.name}',
      ]),
      'e3',
    );
    assert.equal(ok(['get', 'events', '--field-selector', 'involvedObject.kind!=Pod', '-o', 'name']), '');
    ok(['delete', '-f', events]);
    ok(['delete', 'cm', 'ssa']);
  });

  test('malformed input gets 4xx Status answers, never a crash (1000+ requests)', async () => {
    const { request } = await import('node:https');
    const call = (
      method: string,
      p: string,
      body: string | Buffer | undefined,
      type = 'application/json',
    ): Promise<{ code: number; json: unknown }> =>
      new Promise((resolve, reject) => {
        const req = request(
          `${server}${p}`,
          {
            method,
            rejectUnauthorized: false,
            headers: {
              Authorization: `Bearer ${token}`,
              'Content-Type': type,
              ...(body !== undefined ? { 'Content-Length': Buffer.byteLength(body) } : {}),
            },
          },
          (res) => {
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
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const paths = [
      '/api/v1/namespaces/default/configmaps',
      '/apis/apps/v1/namespaces/default/deployments',
      '/api/v1/namespaces',
      '/api/v1/namespaces/default/services',
      '/api/v1/namespaces/nope/pods',
    ];
    const bodies: Array<string | Buffer> = [
      '{',
      'null',
      '[]',
      '"str"',
      '42',
      '{"kind":"Pod"}',
      '{"metadata":{"name":"UPPER"}}',
      '{"metadata":{"name":""}}',
      '{"metadata":{"name":"x","labels":{"bad key!":"v"}}}',
      '{"metadata":{"name":"x-"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":1}]}}',
      Buffer.alloc(4 << 20, 0x20),
      Buffer.from([0xff, 0xfe, 0x00]),
      '{"metadata":{"name":"' + 'a'.repeat(300) + '"}}',
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
          ['POST', '', 'k8s\u0000\u000a\u00ff\u00ffgarbage', 'application/vnd.kubernetes.protobuf'],
          ['POST', '', 'not a protobuf body', 'application/vnd.kubernetes.protobuf'],
          ['POST', '', 'k8s\u0000\u000a\u0006\u000a\u0002v1\u0012\u0000', 'application/vnd.kubernetes.protobuf'],
          ['POST', '', '\u00a1', 'application/cbor'],
        ] as Array<[string, string, string | undefined, string | undefined]>) {
          const r = await call(method, p + suffix, body, type);
          count++;
          assert.ok(
            r.code >= 400 && r.code < 500,
            `${method} ${p}${suffix} -> ${r.code}: ${JSON.stringify(r.json).slice(0, 200)}`,
          );
        }
      }
    }
    assert.ok(count >= 1000, `${count} requests`);
    const nodePort = await call(
      'POST',
      '/api/v1/namespaces/default/services',
      '{"metadata":{"name":"np"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":1}]}}',
    );
    assert.equal(nodePort.code, 422);
    assert.match(JSON.stringify(nodePort.json), /provided port is not in the valid range/);
    assert.match(ok(['get', 'ns', 'default', '-o', 'name']), /namespace\/default/, 'the server is still serving');

    // Values of the wrong type, another apiVersion or kind, a moved namespace: refused, nothing stored.
    const deploys = '/apis/apps/v1/namespaces/default/deployments';
    const typed: Array<[string, string, string, string | undefined, RegExp]> = [
      [
        'POST',
        deploys,
        '{"metadata":{"name":"typed"},"spec":{"replicas":"two"}}',
        undefined,
        /Deployment in version \\"v1\\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32/,
      ],
      [
        'POST',
        '/api/v1/namespaces/default/configmaps',
        '{"metadata":{"name":"typed","labels":{"a":1}}}',
        undefined,
        /Go struct field ObjectMeta.metadata.labels of type string/,
      ],
      [
        'POST',
        '/api/v1/namespaces/default/secrets',
        '{"metadata":{"name":"typed"},"data":{"k":"not base64!"}}',
        undefined,
        /illegal base64 data at input byte 3/,
      ],
      [
        'POST',
        deploys,
        '{"apiVersion":"apps/v1beta1","kind":"Deployment","metadata":{"name":"typed"}}',
        undefined,
        /the API version in the data \(apps\/v1beta1\) does not match the expected API version \(apps\/v1\)/,
      ],
      [
        'POST',
        deploys,
        '{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"typed"}}',
        undefined,
        /the kind in the data \(StatefulSet\) does not match the expected kind \(Deployment\)/,
      ],
    ];
    for (const [method, p, body, type, message] of typed) {
      const r = await call(method, p, body, type);
      assert.equal(r.code, 400, `${method} ${p} ${body}: ${JSON.stringify(r.json)}`);
      assert.match(JSON.stringify(r.json), message);
    }
    assert.equal((await call('GET', `${deploys}/typed`, undefined)).code, 404);
    const cm = '/api/v1/namespaces/default/configmaps/fixed';
    assert.equal(
      (await call('POST', '/api/v1/namespaces/default/configmaps', '{"metadata":{"name":"fixed"}}')).code,
      201,
    );
    for (const [body, type, message] of [
      ['{"kind":"Secret","metadata":{"name":"fixed"}}', 'application/json', /the kind of the object \(Secret\)/],
      [
        '{"metadata":{"name":"fixed","namespace":"kube-system"}}',
        'application/json',
        /namespace of the provided object/,
      ],
      ['{"data":{"n":5}}', 'application/merge-patch+json', /ConfigMap.data of type string/],
    ] as Array<[string, string, RegExp]>) {
      const r = await call(type === 'application/json' ? 'PUT' : 'PATCH', cm, body, type);
      assert.equal(r.code, 400, `${body}: ${JSON.stringify(r.json)}`);
      assert.match(JSON.stringify(r.json), message);
    }
    assert.equal((await call('DELETE', cm, undefined)).code, 200);

    // List and watch options, field labels and media types are checked before anything is read or written.
    const pods = '/api/v1/namespaces/default/pods';
    for (const [method, p, body, type, code, message] of [
      [
        'GET',
        `${pods}?fieldSelector=spec.unknown%3Dx`,
        undefined,
        undefined,
        400,
        /field label not supported: spec.unknown/,
      ],
      ['GET', `${pods}?limit=abc`, undefined, undefined, 400, /strconv.ParseInt: parsing \\"abc\\"/],
      ['GET', `${pods}?watch=maybe`, undefined, undefined, 400, /strconv.ParseBool: parsing \\"maybe\\"/],
      ['GET', `${pods}?resourceVersion=abc`, undefined, undefined, 400, /invalid resourceVersion: abc/],
      [
        'GET',
        `${pods}?resourceVersionMatch=Exact`,
        undefined,
        undefined,
        422,
        /forbidden unless resourceVersion is provided/,
      ],
      ['GET', `${pods}?watch=1&sendInitialEvents=true`, undefined, undefined, 422, /WatchList feature gate/],
      ['POST', pods, '{}', 'text/plain', 415, /accepted media types include: application\/json, application\/yaml/],
      ['PATCH', `${pods}/missing`, '{}', 'text/plain', 415, /application\/merge-patch\+json/],
    ] as Array<[string, string, string | undefined, string | undefined, number, RegExp]>) {
      const r = await call(method, p, body, type);
      assert.equal(r.code, code, `${method} ${p}: ${JSON.stringify(r.json)}`);
      assert.match(JSON.stringify(r.json), message);
    }
    assert.match(ok(['get', 'pods', '-A', '--field-selector', 'spec.nodeName=nowhere,status.phase!=Running']), /^$/);

    // A dry run is `dryRun=All`: any other value is refused, and never taken for a real write.
    const cms = '/api/v1/namespaces/default/configmaps';
    assert.equal((await call('POST', cms, '{"metadata":{"name":"keep"}}')).code, 201);
    const bogus = await call('DELETE', `${cms}/keep?dryRun=Bogus`, undefined);
    assert.equal(bogus.code, 422);
    assert.match(JSON.stringify(bogus.json), /DeleteOptions.meta.k8s.io \\"\\" is invalid: dryRun: Unsupported value/);
    assert.equal((await call('DELETE', `${cms}/keep`, '{"dryRun":["Bogus"]}')).code, 422);
    assert.equal((await call('POST', `${cms}?dryRun=bogus`, '{"metadata":{"name":"made"}}')).code, 422);
    assert.equal((await call('PATCH', `${cms}/keep?dryRun=`, '{}', 'application/merge-patch+json')).code, 422);
    assert.equal((await call('DELETE', `${cms}/keep?dryRun=All`, undefined)).code, 200);
    assert.equal((await call('GET', `${cms}/keep`, undefined)).code, 200, 'a dry run deleted it');
    assert.equal((await call('GET', `${cms}/made`, undefined)).code, 404, 'a refused dry run created it');
    assert.equal((await call('DELETE', `${cms}/keep`, undefined)).code, 200);
  });

  test(
    'kubectl 1.27 does the core of the same',
    { skip: !existsSync(kubectl127) && 'kubectl 1.27 not installed' },
    () => {
      const file = path.join(dir, 'old.yaml');
      writeFileSync(file, DEPLOYMENT('kubia:v1'));
      assert.match(ok(['apply', '-f', file], kubectl127), /deployment\.apps\/kubia created/);
      assert.match(ok(['get', 'deployments'], kubectl127), /kubia\s+0\/1/);
      ok(['scale', 'deployment', 'kubia', '--replicas=2'], kubectl127);
      assert.match(ok(['api-resources'], kubectl127), /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
      ok(['delete', '-f', file], kubectl127);
      assert.equal(ok(['create', 'deployment', 'old', '--image=kubia'], kubectl127), 'deployment.apps/old created\n');
      assert.equal(
        ok(['expose', 'deployment', 'old', '--type=LoadBalancer', '--port=8080'], kubectl127),
        'service/old exposed\n',
      );
      assert.match(
        ok(['get', 'svc', 'old'], kubectl127),
        /old\s+LoadBalancer\s+10\.43\.\d+\.\d+\s+<pending>\s+8080:3\d{4}\/TCP/,
      );
      assert.equal(
        k(['auth', 'can-i', 'list', 'pods', '--as=system:serviceaccount:default:default'], kubectl127).stdout,
        'no\n',
      );
      assert.match(ok(['explain', 'deployment.spec.replicas'], kubectl127), /FIELD: replicas <integer>/);
      ok(['delete', 'deploy/old', 'svc/old', '--cascade=foreground'], kubectl127);
    },
  );
});
