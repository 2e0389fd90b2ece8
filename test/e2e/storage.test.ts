/**
 * Persistent storage on a one-node cluster with real containers, driven with kubectl 1.33 (and 1.27
 * for its columns): the default `local-path` StorageClass provisioning on the first consumer's node,
 * a StatefulSet's claims keeping data across pod deletion, hand-made hostPath volumes with Retain, a
 * `local` volume whose node affinity places its pods (mounted read-only with a subPath), the in-use
 * protection of claims, the folder removed with the volume, and the refusals users meet.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  Cleanup,
  kubectlFor,
  hasKubectl,
  kubectl127,
  run,
  startOneNodeCluster,
  tempDir,
  waitFor,
  type ClusterServer,
} from './helpers.js';

describe('storage', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  const { k, ok } = kubectlFor(() => server.env);
  const apply = (yaml: string): string => ok(['apply', '-f', '-'], yaml);
  const jsonpath = (args: string[], expr: string): string => ok([...args, '-o', `jsonpath=${expr}`]);
  const phase = (kind: string, name: string): string => k(['get', kind, name, '-o', 'jsonpath={.status.phase}']).stdout;
  const waitPhase = (kind: string, name: string, want: string, ms = 60_000): Promise<void> =>
    waitFor(() => phase(kind, name) === want, `${kind} ${name} to be ${want}`, ms);
  const pod = (name: string, claim: string, command: string): string =>
    apply(`apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox, command: [sh, -c, '${command}'], volumeMounts: [{name: data, mountPath: /data}]}
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: ${claim}}}
`);
  const claim = (name: string, extra = ''): string =>
    apply(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: ${name}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
${extra}`);

  before(async () => {
    ({ server } = await startOneNodeCluster(cleanup, 'store-1'));
  });
  after(() => cleanup.run());

  test('the default StorageClass is local-path, WaitForFirstConsumer, with kubectl columns', () => {
    assert.match(
      ok(['get', 'sc']),
      /^NAME\s+PROVISIONER\s+RECLAIMPOLICY\s+VOLUMEBINDINGMODE\s+ALLOWVOLUMEEXPANSION\s+AGE\nlocal-path \(default\)\s+gantry\.io\/local-path\s+Delete\s+WaitForFirstConsumer\s+false\s+/,
    );
  });

  test('a claim waits for its first pod, is provisioned on its node, and the folder goes with the volume', async () => {
    claim('first');
    await waitFor(
      () => /WaitForFirstConsumer/.test(ok(['get', 'events', '--field-selector', 'involvedObject.name=first'])),
      'the WaitForFirstConsumer event',
      20_000,
    );
    assert.equal(phase('pvc', 'first'), 'Pending');
    assert.equal(jsonpath(['get', 'pvc', 'first'], '{.spec.storageClassName}'), 'local-path');
    pod('writer', 'first', 'echo kept > /data/file && sleep 3600');
    ok(['wait', '--for=condition=Ready', 'pod/writer', '--timeout=90s']);
    assert.equal(phase('pvc', 'first'), 'Bound');
    const pv = jsonpath(['get', 'pvc', 'first'], '{.spec.volumeName}');
    assert.match(pv, /^pvc-[0-9a-f-]{36}$/);
    assert.equal(
      jsonpath(['get', 'pv', pv], '{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}'),
      'store-1',
    );
    const folder = jsonpath(['get', 'pv', pv], '{.spec.hostPath.path}');
    assert.equal(path.dirname(folder), path.join(server.dir, 'storage'));
    assert.equal(readFileSync(path.join(folder, 'file'), 'utf8'), 'kept\n');
    assert.match(
      ok(['get', 'pvc', 'first']),
      new RegExp(
        `^NAME\\s+STATUS\\s+VOLUME\\s+CAPACITY\\s+ACCESS MODES\\s+STORAGECLASS\\s+VOLUMEATTRIBUTESCLASS\\s+AGE\\nfirst\\s+Bound\\s+${pv}\\s+1Gi\\s+RWO\\s+local-path\\s+<unset>\\s+`,
      ),
    );
    assert.match(
      ok(['get', 'pv', pv]),
      new RegExp(
        `^NAME\\s+CAPACITY\\s+ACCESS MODES\\s+RECLAIM POLICY\\s+STATUS\\s+CLAIM\\s+STORAGECLASS\\s+VOLUMEATTRIBUTESCLASS\\s+REASON\\s+AGE\\n${pv}\\s+1Gi\\s+RWO\\s+Delete\\s+Bound\\s+default/first\\s+local-path\\s+<unset>\\s+`,
      ),
    );
    assert.match(k(['get', 'pvc', 'first'], undefined, kubectl127).stdout, /first\s+Bound\s+pvc-/);

    // In use: the claim's deletion waits for the pod (kubernetes.io/pvc-protection).
    ok(['delete', 'pvc', 'first', '--wait=false']);
    await new Promise((r) => setTimeout(r, 2000));
    assert.match(ok(['get', 'pvc', 'first']), /first\s+Terminating/);
    ok(['delete', 'pod', 'writer', '--wait=true']);
    await waitFor(() => k(['get', 'pvc', 'first']).code !== 0, 'the claim to be deleted', 30_000);
    await waitFor(() => k(['get', 'pv', pv]).code !== 0, 'the volume to be deleted (reclaim policy Delete)', 30_000);
    assert.equal(existsSync(folder), false, 'the folder is removed with the volume');
  });

  test("a StatefulSet's claims keep web-0's data when the pod is deleted", async () => {
    apply(`apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: None, selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: [sh, -c, '[ -f /data/born ] || hostname > /data/born; date >> /data/starts; sleep 3600']
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 100Mi}}}
`);
    ok(['rollout', 'status', 'sts/web', '--timeout=120s']);
    assert.equal(phase('pvc', 'data-web-0'), 'Bound');
    assert.equal(phase('pvc', 'data-web-1'), 'Bound');
    const uid = jsonpath(['get', 'pod', 'web-0'], '{.metadata.uid}');
    ok(['delete', 'pod', 'web-0']);
    await waitFor(
      () => {
        const r = k(['get', 'pod', 'web-0', '-o', 'jsonpath={.metadata.uid} {.status.phase}']);
        return r.code === 0 && !r.stdout.startsWith(uid) && r.stdout.endsWith('Running');
      },
      'web-0 to come back',
      90_000,
    );
    assert.equal(ok(['exec', 'web-0', '--', 'cat', '/data/born']), 'web-0\n');
    assert.equal(ok(['exec', 'web-0', '--', 'sh', '-c', 'wc -l < /data/starts']).trim(), '2');
    assert.equal(ok(['exec', 'web-1', '--', 'cat', '/data/born']), 'web-1\n');
  });

  test('a hand-made hostPath volume binds a class-less claim and, Retain, is Released after it', async () => {
    const folder = tempDir(cleanup, 'gantry-pv-');
    apply(`apiVersion: v1
kind: PersistentVolume
metadata: {name: manual, labels: {kind: manual}}
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: ${folder}}
`);
    await waitPhase('pv', 'manual', 'Available');
    claim('byhand', `  storageClassName: ""\n  selector: {matchLabels: {kind: manual}}\n`);
    await waitPhase('pvc', 'byhand', 'Bound');
    assert.equal(jsonpath(['get', 'pvc', 'byhand'], '{.spec.volumeName} {.status.capacity.storage}'), 'manual 2Gi');
    pod('reader', 'byhand', 'cat /data/hello; sleep 3600');
    run('sh', ['-c', `echo hi > ${folder}/hello`]);
    ok(['wait', '--for=condition=Ready', 'pod/reader', '--timeout=60s']);
    await waitFor(() => ok(['logs', 'reader']) === 'hi\n', 'the pod to read the volume', 20_000);
    ok(['delete', 'pod', 'reader', '--wait=true']);
    ok(['delete', 'pvc', 'byhand']);
    await waitPhase('pv', 'manual', 'Released');
    assert.equal(readFileSync(path.join(folder, 'hello'), 'utf8'), 'hi\n');
    ok(['delete', 'pv', 'manual']);
  });

  test('a local volume: its node affinity places the pod, a subPath mount reads one folder, readOnly refuses writes', async () => {
    const folder = tempDir(cleanup, 'gantry-local-pv-');
    run('sh', ['-c', `mkdir -p ${folder}/app && echo v1 > ${folder}/app/config.txt && echo outside > ${folder}/other`]);
    const localVolume = (name: string, node: string, label: string): string =>
      apply(`apiVersion: v1
kind: PersistentVolume
metadata: {name: ${name}, labels: {kind: ${label}}}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  local: {path: ${folder}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [${node}]}]
`);
    const noAffinity = k(
      ['apply', '-f', '-'],
      `apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: bad-local}\nspec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], local: {path: ${folder}}}\n`,
    );
    assert.match(noAffinity.stderr, /spec\.nodeAffinity: Required value: Local volume requires node affinity/);

    localVolume('here', 'store-1', 'here');
    claim('local-here', `  storageClassName: ""\n  selector: {matchLabels: {kind: here}}\n`);
    await waitPhase('pvc', 'local-here', 'Bound');
    apply(`apiVersion: v1
kind: Pod
metadata: {name: local-reader}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'cat /config/config.txt; ls /config; touch /config/new 2>/dev/null || echo read-only; sleep 3600']
    volumeMounts: [{name: data, mountPath: /config, subPath: app, readOnly: true}]
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: local-here}}
`);
    ok(['wait', '--for=condition=Ready', 'pod/local-reader', '--timeout=60s']);
    assert.equal(jsonpath(['get', 'pod', 'local-reader'], '{.spec.nodeName}'), 'store-1');
    await waitFor(
      () => ok(['logs', 'local-reader']) === 'v1\nconfig.txt\nread-only\n',
      'the pod to read only its subPath, read-only',
      20_000,
    );
    assert.ok(!existsSync(path.join(folder, 'app', 'new')));

    // A volume bound to another node's disk: the pod cannot go anywhere, and says why.
    localVolume('elsewhere', 'no-such-node', 'elsewhere');
    claim('local-elsewhere', `  storageClassName: ""\n  selector: {matchLabels: {kind: elsewhere}}\n`);
    await waitPhase('pvc', 'local-elsewhere', 'Bound');
    pod('stranded', 'local-elsewhere', 'sleep 3600');
    await waitFor(
      () =>
        /0\/1 nodes are available: 1 node\(s\) had volume node affinity conflict/.test(
          ok(['get', 'events', '--field-selector', 'involvedObject.name=stranded']),
        ),
      'the FailedScheduling event for the volume node affinity conflict',
      30_000,
    );
    assert.equal(phase('pod', 'stranded'), 'Pending');
    ok(['delete', 'pod', 'local-reader', 'stranded', '--wait=true']);
    ok(['delete', 'pvc', 'local-here', 'local-elsewhere']);
    ok(['delete', 'pv', 'here', 'elsewhere']);
  });

  test('bad input: a missing class, a volume without capacity, a claim changed after creation', async () => {
    claim('nowhere', '  storageClassName: nope\n');
    await waitFor(
      () =>
        /ProvisioningFailed.*storageclass\.storage\.k8s\.io "nope" not found/.test(
          ok(['get', 'events', '--field-selector', 'involvedObject.name=nowhere']),
        ),
      'the ProvisioningFailed event',
      20_000,
    );
    assert.equal(phase('pvc', 'nowhere'), 'Pending');
    const noCapacity = k(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: bad}\nspec: {accessModes: [ReadWriteOnce], hostPath: {path: /tmp/x}}\n',
    );
    assert.notEqual(noCapacity.code, 0);
    assert.match(noCapacity.stderr, /PersistentVolume "bad" is invalid: spec\.capacity: Required value/);
    const noModes = k(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: bad}\nspec: {resources: {requests: {storage: 1Gi}}}\n',
    );
    assert.match(noModes.stderr, /spec\.accessModes: Required value: at least 1 access mode is required/);
    const changed = k(['patch', 'pvc', 'nowhere', '-p', '{"spec":{"accessModes":["ReadWriteMany"]}}']);
    assert.notEqual(changed.code, 0);
    assert.match(changed.stderr, /spec: Forbidden: spec is immutable after creation/);
    ok(['delete', 'pvc', 'nowhere']);
  });
});
