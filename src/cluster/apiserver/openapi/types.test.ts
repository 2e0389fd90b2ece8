import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base64Error, typeError } from './types.js';

const deployment = { group: 'apps', version: 'v1', kind: 'Deployment' };
const secret = { group: '', version: 'v1', kind: 'Secret' };
const pod = { group: '', version: 'v1', kind: 'Pod' };

test('objects that decode pass: nulls, unknown fields, quantities as numbers, int-or-string both ways', () => {
  const fits: Array<[typeof pod, unknown]> = [
    [
      deployment,
      {
        metadata: { name: 'a', labels: { a: 'b' } },
        spec: { replicas: 2, template: { spec: { containers: [{ name: 'c', image: 'i' }] } } },
      },
    ],
    [
      deployment,
      {
        spec: {
          replicas: null,
          unknownField: [1, 2],
          strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
        },
      },
    ],
    [
      pod,
      {
        spec: {
          containers: [
            { name: 'c', resources: { limits: { cpu: 1, memory: '64Mi' } }, ports: [{ containerPort: 80 }] },
          ],
        },
      },
    ],
    [pod, { spec: { containers: [{ name: 'c', livenessProbe: { httpGet: { port: 'http' } } }] } }],
    [secret, { data: { a: 'aGVsbG8=', b: '' }, stringData: { c: 'plain' } }],
    [{ group: 'example.com', version: 'v1', kind: 'Widget' }, { spec: 'anything' }],
  ];
  for (const [kind, obj] of fits) assert.equal(typeError(kind, obj), undefined, JSON.stringify(obj));
});

test("wrong types are refused with the decoder's words, the first one named", () => {
  const cases: Array<[typeof pod, unknown, string]> = [
    [
      deployment,
      { spec: { replicas: 'two' } },
      'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32',
    ],
    [
      deployment,
      { spec: { replicas: 1.5 } },
      'json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32',
    ],
    [
      deployment,
      { spec: { replicas: 2 ** 31 } },
      'json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32',
    ],
    [
      deployment,
      { metadata: { labels: ['a'] } },
      'json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string',
    ],
    [
      deployment,
      { metadata: { labels: { a: 1 } } },
      'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string',
    ],
    [
      deployment,
      { spec: 'x' },
      'json: cannot unmarshal string into Go struct field Deployment.spec of type v1.DeploymentSpec',
    ],
    [
      pod,
      { spec: { containers: { name: 'c' } } },
      'json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container',
    ],
    [
      pod,
      { spec: { containers: [{ name: 5 }] } },
      'json: cannot unmarshal number into Go struct field Container.spec.containers.name of type string',
    ],
    [
      pod,
      { spec: { containers: [{ name: 'c', env: [{ name: 'A', value: 1 }] }] } },
      'json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value of type string',
    ],
    [
      pod,
      { spec: { containers: [{ name: 'c', livenessProbe: { httpGet: { port: true } } }] } },
      'json: cannot unmarshal bool into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port of type int32',
    ],
    [
      pod,
      { spec: { hostNetwork: 'yes' } },
      'json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool',
    ],
    [secret, { data: { a: 'not base64!' } }, 'illegal base64 data at input byte 3'],
  ];
  for (const [kind, obj, message] of cases) assert.equal(typeError(kind, obj), message, JSON.stringify(obj));
});

test('base64 as Go reads it', () => {
  const cases: Array<[string, number | undefined]> = [
    ['', undefined],
    ['aGVsbG8=', undefined],
    ['aGVsbA==', undefined],
    ['aGVsbG8', 4],
    ['a=bc', 1],
    ['ab!c', 2],
  ];
  for (const [text, want] of cases) assert.equal(base64Error(text), want, text);
});

test('nulls become what Go holds: a dropped field, a zero element', () => {
  const obj = {
    metadata: { name: 'a', labels: { a: null }, annotations: null },
    spec: { replicas: null, template: { spec: { containers: [null, { name: 'c', args: [null] }] } } },
  };
  assert.equal(typeError(deployment, obj), undefined);
  assert.deepEqual(obj, {
    metadata: { name: 'a', labels: { a: '' } },
    spec: { template: { spec: { containers: [{}, { name: 'c', args: [''] }] } } },
  });
});
