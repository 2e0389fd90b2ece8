import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, renderRows, tabwrite } from './table.js';

test('aligns like Go tabwriter with docker settings', () => {
  assert.equal(
    tabwrite(['REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE', 'busybox\tlatest\tabcdef123456\t2 days ago\t4.26MB']),
    'REPOSITORY   TAG       IMAGE ID       CREATED      SIZE\nbusybox      latest    abcdef123456   2 days ago   4.26MB',
  );
});

test('table formats get headers; plain formats do not', () => {
  const rows = [{ Repository: 'a', Tag: '1' }];
  assert.equal(
    renderRows('table {{.Repository}}\t{{.Tag}}', rows, { Repository: 'REPOSITORY' }),
    'REPOSITORY   TAG\na            1\n',
  );
  assert.equal(renderRows('{{.Repository}}:{{.Tag}}', rows, {}), 'a:1\n');
});

test('human durations as Docker prints them', () => {
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(5000), '5 seconds');
  assert.equal(humanDuration(90000), 'About a minute');
  assert.equal(humanDuration(3 * 3600000), '3 hours');
  assert.equal(humanDuration(3 * 86400000), '3 days');
});
