import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetachDetector, parseDetachKeys } from './detach.js';

test('detach keys in Docker notation', () => {
  assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
  assert.deepEqual([...parseDetachKeys('a,ctrl-@,ctrl-[,ctrl-_')], [97, 0, 27, 31]);
  assert.throws(() => parseDetachKeys('ctrl-1'), /Invalid detach keys \(ctrl-1\) provided/);
  assert.throws(() => parseDetachKeys('abc'), /Invalid detach keys/);
});

test('the sequence detaches, across chunks; a broken prefix is passed on', () => {
  const d = new DetachDetector(parseDetachKeys('ctrl-p,ctrl-q'));
  assert.deepEqual(d.feed(Buffer.from('ab\x10')), { data: Buffer.from('ab'), detached: false });
  assert.deepEqual(d.feed(Buffer.from('x')), { data: Buffer.from('\x10x'), detached: false });
  assert.deepEqual(d.feed(Buffer.from('\x10\x10')), { data: Buffer.from('\x10'), detached: false });
  assert.deepEqual(d.feed(Buffer.from('\x11rest')), { data: Buffer.alloc(0), detached: true });
});
