import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import type { KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { defaultPullPolicy, goMillis, ImageError, ImagePuller, type PullPolicy } from './imagepull.js';

/** A node's images and a registry that has `remote` (or fails), counting pulls. */
function setup(local: string[], remote: string[]) {
  const images = new Set(local);
  const pulls: string[] = [];
  const events: string[] = [];
  let clock = 1_000_000;
  const store = {
    imageSize: async (image: string) => (images.has(image) ? 4096 : undefined),
    pullImage: async (image: string) => {
      pulls.push(image);
      if (!remote.includes(image)) throw new Error(`pulling ${image}: manifest unknown`);
      images.add(image);
    },
  };
  const recorder = {
    record: (_o: KObject, type: string, reason: string, message: string) =>
      events.push(`${type} ${reason}: ${message}`),
  } as unknown as EventRecorder;
  const client = { request: async () => ({}) } as unknown as KubeClient;
  const puller = new ImagePuller(client, store, recorder, () => clock);
  return { puller, pulls, events, advance: (ms: number) => (clock += ms) };
}

const pod: KObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default', uid: 'u1' },
  spec: {},
};

test('each pull policy, with the image on the node or not', async () => {
  const table: Array<{ policy: PullPolicy; local: boolean; pulls: number; error?: string; event: RegExp }> = [
    {
      policy: 'Always',
      local: true,
      pulls: 1,
      event:
        /Pulled: Successfully pulled image "app:1" in \d+ms \(\d+ms including waiting\)\. Image size: 4096 bytes\./,
    },
    { policy: 'Always', local: false, pulls: 1, event: /Successfully pulled/ },
    {
      policy: 'IfNotPresent',
      local: true,
      pulls: 0,
      event: /Normal Pulled: Container image "app:1" already present on machine/,
    },
    { policy: 'IfNotPresent', local: false, pulls: 1, event: /Successfully pulled/ },
    { policy: 'Never', local: true, pulls: 0, event: /already present on machine/ },
    {
      policy: 'Never',
      local: false,
      pulls: 0,
      error: 'ErrImageNeverPull',
      event: /Warning ErrImageNeverPull: Container image "app:1" is not present with pull policy of Never/,
    },
  ];
  for (const row of table) {
    const { puller, pulls, events } = setup(row.local ? ['app:1'] : [], ['app:1']);
    const name = `${row.policy}, ${row.local ? 'present' : 'absent'}`;
    const outcome = await puller.ensure('app:1', row.policy, pod, 'spec.containers{c}').then(
      () => undefined,
      (err: unknown) => (err instanceof ImageError ? err.reason : String(err)),
    );
    assert.equal(outcome, row.error, name);
    assert.equal(pulls.length, row.pulls, name);
    assert.match(events.join('\n'), row.event, name);
  }
});

test('a failed pull backs off 10 s, then twice as long each time, and a success forgets it', async () => {
  const remote: string[] = [];
  const { puller, pulls, events, advance } = setup([], remote);
  const attempt = () =>
    puller.ensure('app:2', 'Always', pod).then(
      () => 'ok',
      (err: ImageError) => err.reason,
    );
  assert.equal(await attempt(), 'ErrImagePull');
  assert.match(events.join('\n'), /Warning Failed: Failed to pull image "app:2": manifest unknown/);
  assert.equal(await attempt(), 'ImagePullBackOff', 'within the back-off the registry is not asked');
  assert.equal(pulls.length, 1);
  advance(10_000);
  assert.equal(await attempt(), 'ErrImagePull', 'asked again after 10 s');
  advance(10_000);
  assert.equal(await attempt(), 'ImagePullBackOff', 'now 20 s');
  advance(10_000);
  remote.push('app:2');
  assert.equal(await attempt(), 'ok');
  assert.equal(pulls.length, 3);
  const other = setup([], []);
  await assert.rejects(other.puller.ensure('x', 'Always', pod));
  other.puller.forget('u1');
  await assert.rejects(other.puller.ensure('x', 'Always', pod), (e: ImageError) => e.reason === 'ErrImagePull');
});

test('the sandbox image (no pod) is pulled only when missing, with no events', async () => {
  const { puller, pulls, events } = setup(['pause:3.9'], ['pause:3.9']);
  await puller.ensure('pause:3.9', 'IfNotPresent');
  await puller.ensure('pause:3.9', 'Always');
  assert.deepEqual([pulls, events], [[], []]);
});

test("defaults and Go's durations", () => {
  const table: Array<[string, PullPolicy]> = [
    ['busybox', 'Always'],
    ['busybox:latest', 'Always'],
    ['localhost:5000/app', 'Always'],
    ['localhost:5000/app:v1', 'IfNotPresent'],
    ['busybox@sha256:' + 'a'.repeat(64), 'IfNotPresent'],
  ];
  for (const [image, want] of table) assert.equal(defaultPullPolicy(image), want, image);
  assert.deepEqual([goMillis(612.4), goMillis(1023), goMillis(2000)], ['612ms', '1.023s', '2s']);
});
