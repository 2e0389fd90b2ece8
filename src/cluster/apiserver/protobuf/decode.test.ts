import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import generated from './k8s-types.json' with { type: 'json' };
import { decodeProtobuf, ProtobufError } from './decode.js';

const root = protobuf.Root.fromJSON(generated.schema as protobuf.INamespace);

/** A body as client-go writes it: `k8s\0` and a runtime.Unknown around the object's message. */
function body(apiVersion: string, kind: string, typeName: string, message: Record<string, unknown>): Buffer {
  const type = root.lookupType(typeName);
  const raw = type.encode(type.fromObject(message)).finish();
  const unknown = root.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown');
  return Buffer.concat([
    Buffer.from('k8s\0', 'latin1'),
    unknown.encode(unknown.fromObject({ typeMeta: { apiVersion, kind }, raw })).finish(),
  ]);
}

test('a Deployment: maps, explicit zeroes, int-or-string, times, inlined volume sources, Go zero values dropped', () => {
  const obj = decodeProtobuf(
    body('apps/v1', 'Deployment', 'k8s.io.api.apps.v1.Deployment', {
      metadata: {
        name: 'web',
        namespace: '',
        labels: [
          { key: 'app', value: 'web' },
          { key: 'empty', value: '' },
        ],
        creationTimestamp: { seconds: 0, nanos: 0 },
        generation: 0,
      },
      spec: {
        replicas: 0,
        minReadySeconds: 0,
        selector: { matchLabels: [{ key: 'app', value: 'web' }] },
        strategy: {
          type: 'RollingUpdate',
          rollingUpdate: { maxSurge: { type: 1, strVal: '25%' }, maxUnavailable: { type: 0, intVal: 1 } },
        },
        template: {
          metadata: { labels: [{ key: 'app', value: 'web' }] },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'nginx',
                stdin: false,
                ports: [{ containerPort: 80, protocol: 'TCP' }],
                resources: {},
              },
            ],
            volumes: [{ name: 'scratch', volumeSource: { emptyDir: {} } }],
            terminationGracePeriodSeconds: 0,
          },
        },
      },
      status: { replicas: 0 },
    }),
  );
  assert.deepEqual(obj, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web', empty: '' } },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80, protocol: 'TCP' }], resources: {} }],
          volumes: [{ name: 'scratch', emptyDir: {} }],
          terminationGracePeriodSeconds: 0,
        },
      },
    },
    status: {},
  });
});

test('a Secret: bytes as base64; a core kind found from apiVersion v1; timestamps as RFC 3339', () => {
  const obj = decodeProtobuf(
    body('v1', 'Secret', 'k8s.io.api.core.v1.Secret', {
      metadata: { name: 's', creationTimestamp: { seconds: 1700000000 } },
      data: [{ key: 'password', value: Buffer.from('s3cret') }],
      type: 'Opaque',
    }),
  );
  assert.deepEqual(obj, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's', creationTimestamp: '2023-11-14T22:13:20Z' },
    data: { password: Buffer.from('s3cret').toString('base64') },
    type: 'Opaque',
  });
});

test('a SelfSubjectAccessReview from kubectl auth can-i (rbac group name to package)', () => {
  const obj = decodeProtobuf(
    body('authorization.k8s.io/v1', 'SelfSubjectAccessReview', 'k8s.io.api.authorization.v1.SelfSubjectAccessReview', {
      spec: { resourceAttributes: { namespace: 'team', verb: 'list', resource: 'pods' } },
    }),
  );
  assert.deepEqual(obj.spec, { resourceAttributes: { namespace: 'team', verb: 'list', resource: 'pods' } });
});

test('bad bodies are ProtobufErrors', () => {
  assert.throws(() => decodeProtobuf(Buffer.from('{"kind":"Pod"}')), ProtobufError);
  assert.throws(() => decodeProtobuf(Buffer.from('k8s\0\xff\xff\xff', 'latin1')), ProtobufError);
  assert.throws(
    () => decodeProtobuf(body('v1', 'NoSuchKind', 'k8s.io.api.core.v1.Pod', {})),
    /no protobuf schema for v1, Kind=NoSuchKind/,
  );
});
