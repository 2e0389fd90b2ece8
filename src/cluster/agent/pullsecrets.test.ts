import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { FakeClient } from '../controllers/testing.js';
import { pullCredentials, registryOf } from './pullsecrets.js';

test('the registry of an image reference', () => {
  const cases: Array<[string, string]> = [
    ['busybox', 'docker.io'],
    ['library/busybox:1.36', 'docker.io'],
    ['docker.io/library/busybox', 'docker.io'],
    ['index.docker.io/x/y', 'docker.io'],
    ['localhost/app', 'localhost'],
    ['127.0.0.1:5000/app:v1', '127.0.0.1:5000'],
    ['registry.example.com/team/app@sha256:abc', 'registry.example.com'],
  ];
  for (const [image, want] of cases) assert.equal(registryOf(image), want, image);
});

test("a pod's pull secrets: credentials for the image's registry, both secret formats, in order", async () => {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64');
  const client = new FakeClient().seed(
    '/api/v1',
    'secrets',
    {
      metadata: { name: 'json', namespace: 'default' },
      type: 'kubernetes.io/dockerconfigjson',
      data: {
        '.dockerconfigjson': b64({
          auths: {
            'https://127.0.0.1:5000/v2/': { auth: Buffer.from('alice:s3cret').toString('base64') },
            'other.example': { username: 'bob', password: 'x' },
          },
        }),
      },
    },
    {
      metadata: { name: 'legacy', namespace: 'default' },
      type: 'kubernetes.io/dockercfg',
      data: { '.dockercfg': b64({ 'https://index.docker.io/v1/': { username: 'carol', password: 'hub' } }) },
    },
  );
  const pod: KObject = {
    metadata: { name: 'p', namespace: 'default' },
    spec: { imagePullSecrets: [{ name: 'missing' }, { name: 'json' }, { name: 'legacy' }] },
  };
  assert.deepEqual(await pullCredentials(client, pod, '127.0.0.1:5000/app'), [
    { username: 'alice', password: 's3cret', serveraddress: 'https://127.0.0.1:5000/v2/' },
  ]);
  assert.deepEqual(await pullCredentials(client, pod, 'busybox'), [
    { username: 'carol', password: 'hub', serveraddress: 'https://index.docker.io/v1/' },
  ]);
  assert.deepEqual(await pullCredentials(client, pod, 'quay.io/x/y'), []);
});
