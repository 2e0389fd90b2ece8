import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchedSuccessRule, parseIndexes } from './jobindexes.js';

test('index sets read back as Kubernetes validates them', () => {
  const table: Array<[string, number, number[] | RegExp]> = [
    ['0-2,4', 5, [0, 1, 2, 4]],
    ['', 3, []],
    ['3', 3, /too large index: "3"/],
    ['2,1', 5, /non-increasing order, previous: 2, current: 1/],
    ['0-2,2', 5, /non-increasing order/],
    ['3-1', 5, /non-increasing order/],
    ['a', 5, /cannot convert string to integer for index: "a"/],
  ];
  for (const [text, completions, want] of table) {
    const got = parseIndexes(text, completions);
    if (want instanceof RegExp) assert.match(String(got), want, text);
    else assert.deepEqual([...(got as Set<number>)], want, text);
  }
});

test('the first success policy rule the succeeded indexes meet', () => {
  const done = new Set([0, 2, 3]);
  const table: Array<[Array<{ succeededIndexes?: string; succeededCount?: number }>, number]> = [
    [[{ succeededIndexes: '0,2' }], 0],
    [[{ succeededIndexes: '0-1' }], -1],
    [[{ succeededCount: 3 }], 0],
    [[{ succeededCount: 4 }], -1],
    [[{ succeededIndexes: '0-1', succeededCount: 1 }], 0],
    [[{ succeededIndexes: '0-1', succeededCount: 2 }, { succeededIndexes: '3' }], 1],
  ];
  for (const [rules, want] of table) assert.equal(matchedSuccessRule(rules, done, 5), want, JSON.stringify(rules));
});
