/**
 * One suite for both datastores: SQLite in a temporary file, and a real etcd (Debian's etcd-server)
 * started on free loopback ports in a temporary directory.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EtcdStorage } from './etcd.js';
import { SqliteStorage } from './sqlite.js';
import { StorageError, type Storage, type WatchEvent } from './types.js';
import { startEtcd, waitFor } from '../../../test/e2e/helpers.js';

const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const dec = (b: Buffer): unknown => JSON.parse(b.toString());

function collect(
  s: Storage,
  prefix: string,
  from: number,
): { events: WatchEvent[]; errors: StorageError[]; cancel: () => void } {
  const events: WatchEvent[] = [];
  const errors: StorageError[] = [];
  const w = s.watch(
    prefix,
    from,
    (e) => events.push(e),
    (e) => errors.push(e),
  );
  return { events, errors, cancel: () => w.cancel() };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function suite(name: string, open: () => Promise<{ storage: Storage; close: () => Promise<void> }>): void {
  describe(`storage: ${name}`, () => {
    let s: Storage;
    let close: () => Promise<void>;
    before(async () => {
      ({ storage: s, close } = await open());
    });
    after(() => close());

    test('a write that lost a race reads back the winner once it hears of the conflict', async () => {
      const { modRevision } = await s.create('/registry/pods/default/race', enc({ v: 0 }));
      const write = (v: number): Promise<{ won?: number; readAfterLoss?: number }> =>
        s.update('/registry/pods/default/race', enc({ v }), modRevision).then(
          (kv) => ({ won: kv.modRevision }),
          async (e: StorageError) => {
            assert.equal(e.code, 'conflict');
            return { readAfterLoss: (await s.get('/registry/pods/default/race'))!.modRevision };
          },
        );
      const results = await Promise.all([write(1), write(2)]);
      const won = results.flatMap((r) => (r.won ? [r.won] : []));
      const read = results.flatMap((r) => (r.readAfterLoss ? [r.readAfterLoss] : []));
      assert.equal(won.length, 1, 'one write wins');
      assert.deepEqual(read, won, "the loser's read sees the winner");
    });

    test('create, get, update with the expected revision, delete; errors by code', async () => {
      const created = await s.create('/registry/pods/default/a', enc({ v: 1 }));
      assert.equal(created.createRevision, created.modRevision);
      await assert.rejects(
        s.create('/registry/pods/default/a', enc({ v: 2 })),
        (e: StorageError) => e.code === 'exists',
      );
      const got = await s.get('/registry/pods/default/a');
      assert.deepEqual(dec(got!.value), { v: 1 });
      assert.equal(got!.modRevision, created.modRevision);
      const updated = await s.update('/registry/pods/default/a', enc({ v: 2 }), created.modRevision);
      assert.ok(updated.modRevision > created.modRevision);
      assert.equal(updated.createRevision, created.createRevision);
      await assert.rejects(
        s.update('/registry/pods/default/a', enc({ v: 3 }), created.modRevision),
        (e: StorageError) => e.code === 'conflict' && e.current?.modRevision === updated.modRevision,
      );
      await assert.rejects(
        s.update('/registry/pods/default/missing', enc({}), 1),
        (e: StorageError) => e.code === 'notFound',
      );
      // An old revision still reads the old value.
      assert.deepEqual(dec((await s.get('/registry/pods/default/a', created.modRevision))!.value), { v: 1 });
      await assert.rejects(
        s.delete('/registry/pods/default/a', created.modRevision),
        (e: StorageError) => e.code === 'conflict',
      );
      const deleted = await s.delete('/registry/pods/default/a', updated.modRevision);
      assert.deepEqual(dec(deleted.value), { v: 2 });
      assert.equal(await s.get('/registry/pods/default/a'), undefined);
      await assert.rejects(s.delete('/registry/pods/default/a'), (e: StorageError) => e.code === 'notFound');
      // Created again: a new createRevision.
      const again = await s.create('/registry/pods/default/a', enc({ v: 'again' }));
      assert.ok(again.createRevision > updated.modRevision);
    });

    test('list by prefix, at a revision, with paging', async () => {
      for (let i = 0; i < 5; i++) await s.create(`/registry/cm/ns1/c${i}`, enc({ i }));
      await s.create('/registry/cm/ns2/other', enc({}));
      await s.create('/registry/cm/ns10/not-ns1', enc({}));
      const all = await s.list('/registry/cm/ns1/');
      assert.deepEqual(
        all.kvs.map((k) => k.key),
        [0, 1, 2, 3, 4].map((i) => `/registry/cm/ns1/c${i}`),
      );
      const rev = all.revision;
      await s.delete('/registry/cm/ns1/c0');
      assert.equal((await s.list('/registry/cm/ns1/')).kvs.length, 4);
      assert.equal(
        (await s.list('/registry/cm/ns1/', { revision: rev })).kvs.length,
        5,
        'the past revision still lists it',
      );
      const page1 = await s.list('/registry/cm/ns1/', { limit: 2 });
      assert.equal(page1.kvs.length, 2);
      assert.equal(page1.more, true);
      const page2 = await s.list('/registry/cm/ns1/', {
        limit: 2,
        startKey: page1.kvs[1]!.key + '\0',
        revision: page1.revision,
      });
      assert.deepEqual(
        page2.kvs.map((k) => k.key),
        ['/registry/cm/ns1/c3', '/registry/cm/ns1/c4'],
      );
      assert.equal(page2.more, false);
      assert.equal((await s.list('/registry/cm/')).kvs.length, 6);
      assert.equal(await s.count('/registry/cm/ns1/'), 4, 'count sees the delete');
      await s.update('/registry/cm/ns1/c1', enc({ again: true }), (await s.get('/registry/cm/ns1/c1'))!.modRevision);
      assert.equal(await s.count('/registry/cm/'), 6, 'an updated key counts once');
      assert.equal(await s.count('/registry/none/'), 0);
    });

    test('watch from a revision replays history in order, then live events; prefix only', async () => {
      const start = await s.revision();
      await s.create('/registry/w/x', enc(1));
      const x2 = await s.update('/registry/w/x', enc(2), (await s.get('/registry/w/x'))!.modRevision);
      const w = collect(s, '/registry/w/', start);
      await until(() => w.events.length === 2, 'replayed events');
      await s.create('/registry/other/y', enc(0));
      await s.delete('/registry/w/x', x2.modRevision);
      await s.create('/registry/w/z', enc(3));
      await until(() => w.events.length === 4, 'live events');
      assert.deepEqual(
        w.events.map((e) => [e.type, e.kv.key]),
        [
          ['put', '/registry/w/x'],
          ['put', '/registry/w/x'],
          ['delete', '/registry/w/x'],
          ['put', '/registry/w/z'],
        ],
      );
      assert.deepEqual(dec(w.events[1]!.prev!.value), 1);
      assert.deepEqual(dec(w.events[2]!.kv.value), 2, 'a delete carries the last value');
      const revs = w.events.map((e) => e.kv.modRevision);
      assert.deepEqual(
        [...revs].sort((a, b) => a - b),
        revs,
      );
      w.cancel();
      // Many watchers see every event.
      const from = await s.revision();
      const many = Array.from({ length: 50 }, () => collect(s, '/registry/fan/', from));
      for (let i = 0; i < 20; i++) await s.create(`/registry/fan/k${i}`, enc(i));
      await until(() => many.every((m) => m.events.length === 20), 'fan-out');
      for (const m of many) m.cancel();
    });

    test('compaction: older revisions answer compacted, current state stays', async () => {
      const a = await s.create('/registry/c/a', enc(1));
      const a2 = await s.update('/registry/c/a', enc(2), a.modRevision);
      await s.create('/registry/c/b', enc(1));
      const rev = await s.revision();
      await s.compact(rev);
      await assert.rejects(s.get('/registry/c/a', a.modRevision), (e: StorageError) => e.code === 'compacted');
      assert.deepEqual(dec((await s.get('/registry/c/a'))!.value), 2);
      assert.equal((await s.get('/registry/c/a'))!.modRevision, a2.modRevision);
      assert.equal((await s.list('/registry/c/')).kvs.length, 2);
      const w = collect(s, '/registry/c/', a.modRevision - 1);
      await until(() => w.errors.length === 1, 'a compacted error');
      assert.equal(w.errors[0]!.code, 'compacted', w.errors[0]!.message);
      w.cancel();
    });
  });
}

test('sqlite: kill -9 of the writer during a burst of concurrent writes loses no acknowledged write', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-sqlite-crash-'));
  try {
    const file = path.join(dir, 'state.db');
    const script = `
      import { SqliteStorage } from ${JSON.stringify(path.join(import.meta.dirname, 'sqlite.ts'))};
      const s = new SqliteStorage(${JSON.stringify(file)});
      let n = 0;
      const writer = async (w) => { for (;;) { const key = '/registry/burst/' + w + '-' + (n++); await s.create(key, Buffer.from('{}')); process.stdout.write(key + '\\n'); } };
      for (let w = 0; w < 8; w++) void writer(w);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let acked = '';
    child.stdout!.on('data', (c: Buffer) => (acked += c.toString()));
    await until(() => acked.split('\n').length > 300, 'some acknowledged writes', 20000);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const keys = acked.split('\n').filter((k) => k.startsWith('/registry/burst/'));
    const s = new SqliteStorage(file);
    const stored = new Set((await s.list('/registry/burst/')).kvs.map((k) => k.key));
    await s.close();
    const lost = keys.filter((k) => !stored.has(k));
    assert.deepEqual(lost, [], `${keys.length} acknowledged, ${lost.length} lost`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

suite('sqlite', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-sqlite-'));
  const storage = new SqliteStorage(path.join(dir, 'state.db'));
  return {
    storage,
    close: async () => {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

if (existsSync('/usr/bin/etcd')) {
  suite('etcd', async () => {
    const etcd = await startEtcd();
    const storage = new EtcdStorage([etcd.endpoint]);
    // The client port answers a little before etcd serves requests.
    await waitFor(
      () =>
        storage.revision().then(
          () => true,
          () => false,
        ),
      'etcd to serve',
      20000,
    );
    return {
      storage,
      close: async () => {
        await storage.close();
        await etcd.stop();
      },
    };
  });
}

test('sqlite: writes of one batch see each other, a refused one leaves nothing, a reopened file knows its keys', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-sqlite-newest-'));
  const file = path.join(dir, 'state.db');
  try {
    let s = new SqliteStorage(file);
    const k = '/registry/pods/default/batch';
    const first = await s.create(k, enc({ v: 1 }));
    // Issued in one tick: committed in one transaction, checked in order.
    const [won, lost, missing, other] = await Promise.allSettled([
      s.update(k, enc({ v: 2 }), first.modRevision),
      s.update(k, enc({ v: 3 }), first.modRevision),
      s.delete('/registry/pods/default/none'),
      s.create('/registry/pods/default/other', enc({})),
    ]);
    assert.equal(won.status, 'fulfilled');
    assert.ok(lost.status === 'rejected' && (lost.reason as StorageError).code === 'conflict');
    assert.ok(missing.status === 'rejected' && (missing.reason as StorageError).code === 'notFound');
    assert.equal(other.status, 'fulfilled');
    assert.deepEqual(dec((await s.get(k))!.value), { v: 2 });
    assert.deepEqual(
      dec((await s.get(k, first.modRevision))!.value),
      { v: 1 },
      'an older revision reads the older row',
    );
    await s.close();

    s = new SqliteStorage(file);
    assert.deepEqual(dec((await s.get(k))!.value), { v: 2 });
    await assert.rejects(s.create(k, enc({})), (e: StorageError) => e.code === 'exists');
    await s.delete(k);
    assert.equal(await s.get(k), undefined);
    await assert.rejects(s.update(k, enc({}), 1), (e: StorageError) => e.code === 'notFound');
    const again = await s.create(k, enc({ v: 'again' }));
    assert.deepEqual(dec((await s.get(k))!.value), { v: 'again' });
    assert.equal((await s.get(k))!.createRevision, again.modRevision);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
