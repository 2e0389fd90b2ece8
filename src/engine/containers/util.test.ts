import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeEnv, mergeImageEnv, processEnv } from './util.js';

test("a new container's Env as moby merges it: the request's first, bare names kept, then the image's others", () => {
  const image = ['PATH=/usr/bin', 'LANG=C', 'FOO=image'];
  const cases: Array<[string[], string[]]> = [
    [[], image],
    [['A=1'], ['A=1', 'PATH=/usr/bin', 'LANG=C', 'FOO=image']],
    [
      ['FOO=mine', 'PATH=/bin'],
      ['FOO=mine', 'PATH=/bin', 'LANG=C'],
    ],
    [['FOO'], ['FOO', 'PATH=/usr/bin', 'LANG=C']],
  ];
  for (const [requested, want] of cases) assert.deepEqual(mergeImageEnv(image, requested), want, requested.join(' '));
});

test("exec's environment over the container's: replaced in place, appended, or unset by a bare name", () => {
  const base = ['PATH=/usr/bin', 'A=1', 'B=2'];
  assert.deepEqual(mergeEnv(base, ['A=9', 'C=3']), ['PATH=/usr/bin', 'A=9', 'B=2', 'C=3']);
  assert.deepEqual(mergeEnv(base, ['B']), ['PATH=/usr/bin', 'A=1']);
  assert.deepEqual(mergeEnv(base, ['NOPE']), base);
});

test('a process gets only NAME=value entries', () => {
  assert.deepEqual(processEnv(['FOO', 'A=1', 'EMPTY=']), ['A=1', 'EMPTY=']);
});
