import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bigToIp6, contains6, ip6ToBig, parsePrefix6, prefix6Text, randomUla } from './ipv6.js';

test('IPv6 text round-trips to its canonical form', () => {
  const table: Array<[string, string]> = [
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['2001:DB8::0:1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::ffff:10.1.2.3', '::ffff:a01:203'],
  ];
  for (const [input, want] of table) assert.equal(bigToIp6(ip6ToBig(input)), want, input);
});

test('prefixes: base, membership, a random ULA /64', () => {
  const p = parsePrefix6('fd12:3456:789a:1::5/64');
  assert.equal(prefix6Text(p), 'fd12:3456:789a:1::/64');
  assert.ok(contains6(p, ip6ToBig('fd12:3456:789a:1::ffff')));
  assert.ok(!contains6(p, ip6ToBig('fd12:3456:789a:2::1')));
  const ula = randomUla();
  assert.match(prefix6Text(ula), /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
  assert.throws(() => parsePrefix6('fd00::/129'), /invalid CIDR/);
});
