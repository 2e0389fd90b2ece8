import { test } from 'node:test';
import assert from 'node:assert/strict';
import { milliValue, parseQuantity, value } from './quantity.js';

test('quantities parse as Kubernetes reads them', () => {
  const cases: Array<[unknown, number | undefined, number, number]> = [
    // input, parsed, milliValue, value
    ['100m', 0.1, 100, 1],
    ['2', 2, 2000, 2],
    ['0.5', 0.5, 500, 1],
    ['128Mi', 134217728, 134217728000, 134217728],
    ['1G', 1e9, 1e12, 1e9],
    ['1e3', 1000, 1e6, 1000],
    ['1k', 1000, 1e6, 1000],
    [4, 4, 4000, 4],
    ['', undefined, 0, 0],
    ['12x', undefined, 0, 0],
    ['Mi', undefined, 0, 0],
    [undefined, undefined, 0, 0],
  ];
  for (const [input, parsed, milli, whole] of cases) {
    assert.equal(parseQuantity(input), parsed, `parse ${String(input)}`);
    assert.equal(milliValue(input), milli, `milli ${String(input)}`);
    assert.equal(value(input), whole, `value ${String(input)}`);
  }
});
