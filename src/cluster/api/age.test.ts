import assert from 'node:assert/strict';
import { test } from 'node:test';
import { age, humanDuration } from './age.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('humanDuration prints what kubectl prints', () => {
  const cases: Array<[number, string]> = [
    [-5 * S, '<invalid>'],
    [-1.5 * S, '0s'],
    [0, '0s'],
    [119 * S, '119s'],
    [2 * M, '2m'],
    [3 * M + 20 * S, '3m20s'],
    [10 * M + 5 * S, '10m'],
    [179 * M, '179m'],
    [3 * H, '3h'],
    [7 * H + 59 * M, '7h59m'],
    [47 * H, '47h'],
    [3 * D + 4 * H, '3d4h'],
    [5 * D, '5d'],
    [400 * D, '400d'],
    [2 * 365 * D + 30 * D, '2y30d'],
    [3 * 365 * D, '3y'],
    [9 * 365 * D + 40 * D, '9y'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms} ms`);
});

test('age of a timestamp, and of none', () => {
  assert.equal(age('2026-01-01T00:00:00Z', Date.parse('2026-01-01T00:05:00Z')), '5m');
  assert.equal(age(undefined), '<unknown>');
});
