import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dynamicRange, normalizeMac, pool6Of, poolOf, validateEndpoint, validateIpam } from './ipam.js';
import { parsePrefix6 } from './ipv6.js';
import { intToIp } from './ipnet.js';

test('IPAM pools are checked with moby words', () => {
  const table: Array<[string, Parameters<typeof validateIpam>[0], RegExp | undefined]> = [
    ['plain subnet', [{ Subnet: '10.9.0.0/16' }], undefined],
    [
      'full config',
      [{ Subnet: '10.9.0.0/16', IPRange: '10.9.5.0/24', Gateway: '10.9.0.254', AuxiliaryAddresses: { r: '10.9.0.2' } }],
      undefined,
    ],
    ['not CIDR', [{ Subnet: '10.9.0.0' }], /invalid subnet 10\.9\.0\.0: invalid CIDR block notation/],
    ['host bits set', [{ Subnet: '10.9.0.1/16' }], /invalid subnet 10\.9\.0\.1\/16: it should be 10\.9\.0\.0\/16/],
    [
      'range outside',
      [{ Subnet: '10.9.0.0/16', IPRange: '10.8.0.0/24' }],
      /invalid ip-range 10\.8\.0\.0\/24: parent subnet 10\.9\.0\.0\/16 doesn't contain ip-range/,
    ],
    [
      'range bigger',
      [{ Subnet: '10.9.0.0/16', IPRange: '10.0.0.0/8' }],
      /CIDR block is bigger than its parent subnet 10\.9\.0\.0\/16/,
    ],
    [
      'gateway outside',
      [{ Subnet: '10.9.0.0/16', Gateway: '10.10.0.1' }],
      /invalid gateway 10\.10\.0\.1: parent subnet 10\.9\.0\.0\/16 doesn't contain ip address 10\.10\.0\.1/,
    ],
    ['gateway garbage', [{ Subnet: '10.9.0.0/16', Gateway: 'nope' }], /invalid gateway nope: invalid address/],
    [
      'aux outside',
      [{ Subnet: '10.9.0.0/16', AuxiliaryAddresses: { host1: '1.2.3.4' } }],
      /invalid auxiliary address host1: parent subnet/,
    ],
    ['v6 ignored without ipv6', [{ Subnet: 'fd00::/64' }], undefined],
  ];
  for (const [what, configs, err] of table) {
    if (err) assert.throws(() => validateIpam(configs, false), err, what);
    else assert.doesNotThrow(() => validateIpam(configs, false), what);
  }
  assert.throws(
    () => validateIpam([{ Subnet: 'x' }, { Subnet: '10.9.0.1/16' }], false),
    /invalid network config:\ninvalid subnet x: .*\ninvalid subnet 10\.9\.0\.1\/16/,
  );
});

test('IPv6 pools: ip-range and auxiliary addresses checked with moby words, kept in canonical text', () => {
  const table: Array<[string, Parameters<typeof validateIpam>[0], RegExp | undefined]> = [
    [
      'full config',
      [{ Subnet: 'fd00:1::/64', IPRange: 'fd00:1::100/120', AuxiliaryAddresses: { r: 'fd00:1::5' } }],
      undefined,
    ],
    [
      'range outside',
      [{ Subnet: 'fd00:1::/64', IPRange: 'fd00:2::/120' }],
      /parent subnet fd00:1::\/64 doesn't contain ip-range/,
    ],
    [
      'range bigger',
      [{ Subnet: 'fd00:1::/64', IPRange: 'fd00::/48' }],
      /CIDR block is bigger than its parent subnet fd00:1::\/64/,
    ],
    ['range host bits', [{ Subnet: 'fd00:1::/64', IPRange: 'fd00:1::101/120' }], /it should be fd00:1::100\/120/],
    [
      'range of the other family',
      [{ Subnet: 'fd00:1::/64', IPRange: '10.0.0.0/24' }],
      /parent subnet is an IPv6 block/,
    ],
    [
      'aux outside',
      [{ Subnet: 'fd00:1::/64', AuxiliaryAddresses: { h: 'fd00:2::1' } }],
      /invalid auxiliary address h: parent subnet fd00:1::\/64/,
    ],
    [
      'aux of the other family',
      [{ Subnet: 'fd00:1::/64', AuxiliaryAddresses: { h: '10.0.0.1' } }],
      /invalid auxiliary address h: parent subnet is an IPv6 block/,
    ],
  ];
  for (const [what, configs, err] of table) {
    if (err) assert.throws(() => validateIpam(configs, true), err, what);
    else assert.doesNotThrow(() => validateIpam(configs, true), what);
  }
  assert.deepEqual(
    pool6Of(parsePrefix6('fd00:1::/64'), {
      IPRange: 'fd00:1:0:0::100/120',
      AuxiliaryAddresses: { r: 'fd00:1:0::0:5' },
    }),
    { Subnet: 'fd00:1::/64', Gateway: 'fd00:1::1', IPRange: 'fd00:1::100/120', AuxiliaryAddresses: { r: 'fd00:1::5' } },
  );
});

test('dynamic addresses come from the ip-range and skip the gateway and auxiliary addresses', () => {
  const pool = poolOf(
    { Subnet: '10.9.0.0/16', IPRange: '10.9.5.0/30', AuxiliaryAddresses: { a: '10.9.5.1' } },
    '10.9.5.2',
  );
  const { first, last, reserved } = dynamicRange(pool);
  const free = [];
  for (let ip = first; ip <= last; ip++) if (!reserved.has(ip)) free.push(intToIp(ip));
  assert.deepEqual(free, ['10.9.5.0', '10.9.5.3']);
  const whole = dynamicRange({ Subnet: '10.9.0.0/30', Gateway: '10.9.0.1' });
  assert.deepEqual([intToIp(whole.first), intToIp(whole.last)], ['10.9.0.1', '10.9.0.2']);
});

test('endpoint requests are checked as moby checks them', () => {
  const user = { Name: 'mine', IPAM: { Config: [{ Subnet: '10.9.0.0/16', Gateway: '10.9.0.1' }] }, userSubnet: true };
  const pooled = { ...user, userSubnet: false };
  const bridge = { ...user, Name: 'bridge', userSubnet: false };
  const table: Array<[string, typeof user, Parameters<typeof validateEndpoint>[1], RegExp | undefined]> = [
    ['static in subnet', user, { IPAMConfig: { IPv4Address: '10.9.3.4' } }, undefined],
    [
      'static outside',
      user,
      { IPAMConfig: { IPv4Address: '10.1.3.4' } },
      /no configured subnet or ip-range contain the IP address 10\.1\.3\.4/,
    ],
    [
      'static on pooled subnet',
      pooled,
      { IPAMConfig: { IPv4Address: '10.9.3.4' } },
      /supported only when connecting to networks with user configured subnets/,
    ],
    [
      'static on bridge',
      bridge,
      { IPAMConfig: { IPv4Address: '10.9.3.4' } },
      /user specified IP address is supported on user defined networks only/,
    ],
    [
      'alias on bridge',
      bridge,
      { Aliases: ['a'] },
      /network-scoped alias is supported only for containers in user defined networks/,
    ],
    ['bad IPv4', user, { IPAMConfig: { IPv4Address: '10.9.3' } }, /invalid IPv4 address: 10\.9\.3/],
    ['bad link-local', user, { IPAMConfig: { LinkLocalIPs: ['x'] } }, /invalid link-local IP address: x/],
    ['mac', bridge, { MacAddress: '92:d0:c6:0a:29:33' }, undefined],
    ['bad mac', bridge, { MacAddress: '92:d0:c6:0a:29' }, /invalid MAC address 92:d0:c6:0a:29/],
  ];
  for (const [what, nw, ep, err] of table) {
    if (err) assert.throws(() => validateEndpoint(nw, ep), err, what);
    else assert.doesNotThrow(() => validateEndpoint(nw, ep), what);
  }
  assert.equal(normalizeMac('92-D0-C6-0A-29-33'), '92:d0:c6:0a:29:33');
});
