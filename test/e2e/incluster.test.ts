/**
 * What a pod gets to reach the cluster from inside, on a one-node cluster with real containers whose
 * API server listens where pods reach it: its ServiceAccount's token, the cluster CA and its namespace
 * at `/var/run/secrets/kubernetes.io/serviceaccount`, the `KUBERNETES_SERVICE_*` variables, and so
 * kubectl's own in-cluster configuration (the real kubectl binary run inside a pod) working under the
 * account's RBAC; ConfigMap volumes following updates; `automountServiceAccountToken: false`; images of
 * a password-protected registry pulled with the pod's or its account's `imagePullSecrets`; image pull
 * policies (`Always` brings a moved tag, `IfNotPresent` uses what is there, `Never` never pulls); the
 * APIServices tools check.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import {
  baseImagesLayout,
  Cleanup,
  kubectlFor,
  hasKubectl,
  kubectl,
  run,
  startOneNodeCluster,
  startRegistry,
  tempDir,
  waitFor,
  type ClusterServer,
  type Daemon,
} from './helpers.js';

/** An address of this machine pods can reach through their gateway (the API server listens on all). */
const hostAddress = (): string =>
  Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address ?? '127.0.0.1';

describe('in-cluster access', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  let engine: Daemon;
  const { ok } = kubectlFor(() => server.env);

  before(async () => {
    ({ server, d: engine } = await startOneNodeCluster(cleanup, 'inside-1', [
      '--bind-address',
      '0.0.0.0',
      '--advertise-address',
      hostAddress(),
    ]));
    ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {greeting: hello}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: default-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: default, namespace: default}]
---
apiVersion: v1
kind: Pod
metadata: {name: inside}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [sleep, '3600']
    volumeMounts:
    - {name: kubectl, mountPath: /usr/local/bin/kubectl, readOnly: true}
    - {name: cfg, mountPath: /etc/cfg}
  volumes:
  - {name: kubectl, hostPath: {path: ${kubectl}}}
  - {name: cfg, configMap: {name: cfg}}
---
apiVersion: v1
kind: Pod
metadata: {name: sealed}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: busybox, command: [sleep, '3600']}]
`,
    );
    ok(['wait', '--for=condition=Ready', 'pod/inside', 'pod/sealed', '--timeout=90s']);
  });
  after(() => cleanup.run());

  test('the API access volume: token, CA, namespace; the kubernetes Service variables', () => {
    const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
    assert.equal(
      ok(['exec', 'inside', '--', 'ls', dir]).split('\n').filter(Boolean).sort().join(' '),
      'ca.crt namespace token',
    );
    assert.equal(ok(['exec', 'inside', '--', 'cat', `${dir}/namespace`]), 'default');
    const ca = ok(['get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']);
    assert.equal(ok(['exec', 'inside', '--', 'cat', `${dir}/ca.crt`]), ca);
    assert.match(ok(['exec', 'inside', '--', 'cat', `${dir}/token`]), /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const clusterIp = ok(['get', 'svc', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}']);
    const env = ok(['exec', 'inside', '--', 'env']);
    assert.match(env, new RegExp(`^KUBERNETES_SERVICE_HOST=${clusterIp.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(env, /^KUBERNETES_SERVICE_PORT=443$/m);
    assert.match(env, new RegExp(`^KUBERNETES_PORT_443_TCP=tcp://${clusterIp.replace(/\./g, '\\.')}:443$`, 'm'));
    assert.match(ok(['get', 'pod', 'inside', '-o', 'jsonpath={.spec.volumes[*].name}']), /kube-api-access-\w{5}/);
  });

  test("kubectl inside the pod uses its in-cluster config, as the account's RBAC allows", () => {
    assert.equal(
      ok(['exec', 'inside', '--', 'kubectl', 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']),
      'system:serviceaccount:default:default',
    );
    assert.match(ok(['exec', 'inside', '--', 'kubectl', 'get', 'pods', '-o', 'name']), /pod\/inside\npod\/sealed/);
    const denied = run(kubectl, ['exec', 'inside', '--', 'kubectl', 'delete', 'pod', 'sealed'], { env: server.env });
    assert.notEqual(denied.code, 0);
    assert.match(
      denied.stderr + denied.stdout,
      /User "system:serviceaccount:default:default" cannot delete resource "pods" in API group "" in the namespace "default"/,
    );
  });

  test('automountServiceAccountToken: false leaves the token out', () => {
    const r = run(kubectl, ['exec', 'sealed', '--', 'ls', '/var/run/secrets/kubernetes.io/serviceaccount'], {
      env: server.env,
    });
    assert.notEqual(r.code, 0);
  });

  test('a ConfigMap volume follows an update (atomically, through ..data)', async () => {
    assert.equal(ok(['exec', 'inside', '--', 'cat', '/etc/cfg/greeting']), 'hello');
    assert.match(ok(['exec', 'inside', '--', 'readlink', '/etc/cfg/greeting']), /^\.\.data\/greeting\n$/);
    ok(['patch', 'configmap', 'cfg', '-p', '{"data":{"greeting":"bonjour","extra":"1"}}']);
    await waitFor(
      () =>
        run(kubectl, ['exec', 'inside', '--', 'cat', '/etc/cfg/greeting'], { env: server.env }).stdout === 'bonjour',
      'the file to show the new value',
      100_000,
    );
    assert.equal(ok(['exec', 'inside', '--', 'cat', '/etc/cfg/extra']), '1');
  });

  test("imagePullSecrets: a private registry's image pulls with the pod's or its account's secret", async () => {
    const dir = tempDir(cleanup, 'gantry-private-');
    const htpasswd = path.join(dir, 'htpasswd');
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync('s3cret', 5)}\n`);
    const reg = await startRegistry(cleanup, 'gantry', { htpasswd });
    const copied = run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      'alice:s3cret',
      `oci:${baseImagesLayout()}:busybox:latest`,
      `docker://${reg.addr}/private/busybox:latest`,
    ]);
    assert.equal(copied.code, 0, copied.stderr);
    // A second tag no pod pulls with credentials: the node never has it, so its pull must authenticate.
    const tagged = run('skopeo', [
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--src-creds',
      'alice:s3cret',
      '--dest-creds',
      'alice:s3cret',
      `docker://${reg.addr}/private/busybox:latest`,
      `docker://${reg.addr}/private/busybox:untouched`,
    ]);
    assert.equal(tagged.code, 0, tagged.stderr);
    ok([
      'create',
      'secret',
      'docker-registry',
      'regcred',
      `--docker-server=${reg.addr}`,
      '--docker-username=alice',
      '--docker-password=s3cret',
    ]);
    const image = `${reg.addr}/private/busybox:latest`;
    ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: ServiceAccount
metadata: {name: puller}
imagePullSecrets: [{name: regcred}]
---
apiVersion: v1
kind: Pod
metadata: {name: withcred}
spec:
  imagePullSecrets: [{name: regcred}]
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: ${image}, command: [sleep, '3600']}]
---
apiVersion: v1
kind: Pod
metadata: {name: nocred}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: ${reg.addr}/private/busybox:untouched, command: [sleep, '3600']}]
`,
    );
    ok(['wait', '--for=condition=Ready', 'pod/withcred', '--timeout=90s']);
    await waitFor(
      () =>
        /ErrImagePull|ImagePullBackOff/.test(
          ok(['get', 'pod', 'nocred', '-o', 'jsonpath={.status.containerStatuses[0].state.waiting.reason}']),
        ),
      'the pull without credentials to fail',
      60_000,
    );
    // The image is on the node now; an account's secret is still copied onto its pods at admission.
    ok([
      'run',
      'viaaccount',
      `--image=${image}`,
      '--overrides={"spec":{"serviceAccountName":"puller"}}',
      '--',
      'sleep',
      '3600',
    ]);
    assert.equal(ok(['get', 'pod', 'viaaccount', '-o', 'jsonpath={.spec.imagePullSecrets[*].name}']), 'regcred');
  });

  test("image pull policies: Always brings a moved tag, IfNotPresent uses the node's, Never never pulls", async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    const image = `${reg.addr}/policy/app:latest`;
    const seeded = run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${baseImagesLayout()}:busybox:latest`,
      `docker://${image}`,
    ]);
    assert.equal(seeded.code, 0, seeded.stderr);
    const pod = (name: string, policy?: string, ref = image): string =>
      `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: ${ref}
${policy ? `    imagePullPolicy: ${policy}\n` : ''}    command: [sh, -c, 'cat /marker 2>/dev/null || echo none; sleep 3600']
`;
    const logs = async (name: string): Promise<string> => {
      ok(['wait', '--for=condition=Ready', `pod/${name}`, '--timeout=60s']);
      let text = '';
      await waitFor(() => (text = ok(['logs', name]).trim()) !== '', `${name}'s output`, 10_000);
      return text;
    };
    ok(['apply', '-f', '-'], pod('first'));
    assert.equal(ok(['get', 'pod', 'first', '-o', 'jsonpath={.spec.containers[0].imagePullPolicy}']), 'Always');
    assert.equal(await logs('first'), 'none');
    // The tags move in the registry to an image with a marker, built and pushed under another name
    // and copied over them; the node keeps the old image under both, as a node that pulled before.
    const context = tempDir(cleanup, 'gantry-policy-');
    writeFileSync(path.join(context, 'Dockerfile'), `FROM ${image}\nRUN echo moved > /marker\n`);
    const docker = (args: string[]): string => {
      const r = run('docker', args, { env: engine.env });
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const built = `${reg.addr}/policy/build:v2`;
    const pinned = `${reg.addr}/policy/app:pinned`;
    docker(['build', '-q', '-t', built, context]);
    docker(['push', '-q', built]);
    docker(['rmi', built]);
    docker(['tag', image, pinned]);
    for (const tag of ['latest', 'pinned']) {
      const moved = run('skopeo', [
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${built}`,
        `docker://${reg.addr}/policy/app:${tag}`,
      ]);
      assert.equal(moved.code, 0, moved.stderr);
    }
    ok(['apply', '-f', '-'], pod('always'));
    assert.equal(await logs('always'), 'moved', 'Always pulled the moved tag although the node had one');
    const events = ok([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=always',
      '-o',
      'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}',
    ]);
    assert.match(events, /Pulling: Pulling image "[^"]+\/policy\/app:latest"/);
    assert.match(
      events,
      /Pulled: Successfully pulled image "[^"]+" in [\d.]+m?s \([\d.]+m?s including waiting\)\. Image size: \d+ bytes\./,
    );

    ok(['apply', '-f', '-'], pod('ifnotpresent', 'IfNotPresent', pinned));
    assert.equal(await logs('ifnotpresent'), 'none', "IfNotPresent ran the node's image");
    const present = ok([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=ifnotpresent',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    assert.match(present, /Container image "[^"]+\/policy\/app:pinned" already present on machine/);
    assert.doesNotMatch(present, /Pulling image/);

    ok(['apply', '-f', '-'], pod('never', 'Never', `${reg.addr}/policy/absent:v1`));
    await waitFor(
      () =>
        ok(['get', 'pod', 'never', '-o', 'jsonpath={.status.containerStatuses[0].state.waiting.reason}']) ===
        'ErrImageNeverPull',
      'ErrImageNeverPull',
      30_000,
    );
    assert.match(
      ok(['get', 'pod', 'never', '-o', 'jsonpath={.status.containerStatuses[0].state.waiting.message}']),
      /Container image "[^"]+\/policy\/absent:v1" is not present with pull policy of Never/,
    );
    ok(['delete', 'pod', 'first', 'always', 'ifnotpresent', 'never', '--wait=false']);
  });

  test('APIServices: every served group version is registered, Local and Available', () => {
    assert.match(ok(['get', 'apiservices']), /^NAME\s+SERVICE\s+AVAILABLE\s+AGE\n/);
    assert.match(ok(['get', 'apiservices']), /^v1beta1\.metrics\.k8s\.io\s+Local\s+True\s+/m);
    assert.equal(
      ok(['get', 'apiservice', 'v1.apps', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']),
      'True',
    );
  });
});
