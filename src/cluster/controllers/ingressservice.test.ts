import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIngressPorts, INGRESS_PORTS_ANNOTATION, parseIngressPorts } from '../api/ingress.js';
import type { KObject } from '../api/object.js';
import { ingressSubsets } from './ingressservice.js';

const node = (name: string, ip: string, ports: string | undefined, ready = true): KObject => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, ...(ports !== undefined ? { annotations: { [INGRESS_PORTS_ANNOTATION]: ports } } : {}) },
  status: {
    addresses: [{ type: 'InternalIP', address: ip }],
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
  },
});

test('the ingress Service has the Ready nodes with proxies, grouped by the ports they announce', () => {
  const subsets = ingressSubsets([
    node('c', '10.0.0.3', 'http=8080'),
    node('a', '10.0.0.1', 'http=80,https=443'),
    node('b', '10.0.0.2', 'http=80,https=443'),
    node('d', '10.0.0.4', 'http=80,https=443', false),
    node('e', '10.0.0.5', undefined),
  ]);
  assert.deepEqual(subsets, [
    {
      addresses: [
        { ip: '10.0.0.1', nodeName: 'a' },
        { ip: '10.0.0.2', nodeName: 'b' },
      ],
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'https', port: 443, protocol: 'TCP' },
      ],
    },
    { addresses: [{ ip: '10.0.0.3', nodeName: 'c' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  ]);
});

test("a node's ports annotation, both ways; what is not a port is ignored", () => {
  assert.equal(formatIngressPorts({ http: 80, https: 443 }), 'http=80,https=443');
  assert.equal(formatIngressPorts({ http: 0, https: 8443 }), 'https=8443');
  assert.equal(formatIngressPorts({}), '');
  const table: Array<[string | undefined, Record<string, number>]> = [
    ['http=80,https=443', { http: 80, https: 443 }],
    ['https=8443', { https: 8443 }],
    ['http=0,https=70000,ftp=21,http=abc', {}],
    [' http=81 ', { http: 81 }],
    [undefined, {}],
  ];
  for (const [text, want] of table) assert.deepEqual(parseIngressPorts(text), want, String(text));
});
