import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KObject } from '../api/object.js';
import { quietLogger } from '../controllers/testing.js';
import type { KubeClient } from './client.js';
import { EventRecorder } from './events.js';

/** A client whose creates wait until released, counting what reached it. */
function slowClient(): { client: KubeClient; created: KObject[]; release: () => void } {
  const created: KObject[] = [];
  const waiting: Array<() => void> = [];
  const client = {
    create: (_path: string, obj: KObject) => {
      created.push(obj);
      return new Promise<KObject>((resolve) => waiting.push(() => resolve(obj)));
    },
  } as Partial<KubeClient> as KubeClient;
  return { client, created, release: () => waiting.splice(0).forEach((f) => f()) };
}

const pod: KObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u' } };
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('events are written a few at a time, in order, and dropped beyond a queue of 1000', async () => {
  const { client, created, release } = slowClient();
  const recorder = new EventRecorder(client, 'default-scheduler', quietLogger);
  for (let i = 0; i < 1100; i++) recorder.record(pod, 'Normal', 'Scheduled', `event ${i}`);
  assert.equal(created.length, 2, 'two writes in flight');
  for (let round = 0; round < 1000 && created.length < 1100; round++) {
    release();
    await settle();
  }
  // Two left at once, 1000 waited; the other 98 found the queue full.
  assert.equal(created.length, 1002);
  assert.deepEqual(
    created.slice(0, 3).map((e) => e.message),
    ['event 0', 'event 1', 'event 2'],
  );
  assert.equal(created[0]!.metadata?.namespace, 'ns');
  assert.equal((created[0]!.involvedObject as { uid: string }).uid, 'u');
  recorder.record(pod, 'Warning', 'Again', 'after the burst');
  release();
  await settle();
  assert.equal(created.at(-1)!.message, 'after the burst', 'recording resumes once the queue drains');
});
