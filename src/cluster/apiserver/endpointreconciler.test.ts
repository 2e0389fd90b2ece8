import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kubernetesSubsets } from './endpointreconciler.js';

test("the kubernetes Service's endpoints from the live servers' addresses", () => {
  const cases: Array<[string[], unknown]> = [
    [[], []],
    [
      ['10.0.0.3:6443', '10.0.0.2:6443', '10.0.0.2:6443'],
      [
        {
          addresses: [{ ip: '10.0.0.2' }, { ip: '10.0.0.3' }],
          ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
        },
      ],
    ],
    [
      ['127.0.0.1:7000', '127.0.0.1:6443', '[fd00::1]:6443'],
      [
        {
          addresses: [{ ip: '127.0.0.1' }, { ip: 'fd00::1' }],
          ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
        },
        { addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: 7000, protocol: 'TCP' }] },
      ],
    ],
    [['10.0.0.2', '10.0.0.2:0', ':6443', '10.0.0.2:99999'], []],
  ];
  for (const [advertised, want] of cases) assert.deepEqual(kubernetesSubsets(advertised), want, advertised.join(','));
});
