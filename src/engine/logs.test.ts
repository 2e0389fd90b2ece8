import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLine, timeNs } from './logs.js';

test('parses conmon k8s-file lines, full and partial', () => {
  const full = parseLine('2026-11-23T11:22:37.585833391+00:00 stdout F Hello world')!;
  assert.equal(full.stream, 'stdout');
  assert.equal(full.data.toString(), 'Hello world\n');
  assert.equal(full.timestamp, '2026-11-23T11:22:37.585833391Z');
  const partial = parseLine('2026-11-23T11:22:37.5+00:00 stderr P no newline')!;
  assert.equal(partial.stream, 'stderr');
  assert.equal(partial.data.toString(), 'no newline');
  assert.equal(parseLine('garbage'), undefined);
});

test('timestamps with offsets to nanoseconds', () => {
  assert.equal(timeNs('1970-01-01T00:00:01.000000002Z'), 1_000_000_002n);
  assert.equal(timeNs('1970-01-01T01:00:01+01:00'), 1_000_000_000n);
});
