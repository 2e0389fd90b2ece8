import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { routeFor, tlsSecretFor } from './ingressroutes.js';

const backend = (service: string, port = 80) => ({ service: { name: service, port: { number: port } } });
const ingress = (name: string, spec: Record<string, unknown>, className = 'gantry'): KObject => ({
  metadata: { name, namespace: 'default' },
  spec: { ingressClassName: className, ...spec },
});

const ingresses = [
  ingress('a', {
    rules: [
      {
        host: 'shop.test',
        http: {
          paths: [
            { path: '/', pathType: 'Prefix', backend: backend('front') },
            { path: '/api', pathType: 'Prefix', backend: backend('api') },
            { path: '/api/health', pathType: 'Exact', backend: backend('health') },
          ],
        },
      },
      { host: '*.shop.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('tenant') }] } },
    ],
    tls: [{ hosts: ['shop.test'], secretName: 'shop-tls' }],
  }),
  ingress('b', { rules: [{ http: { paths: [{ path: '/any', pathType: 'Prefix', backend: backend('anyhost') }] } }] }),
  ingress('c', { defaultBackend: backend('fallback') }),
  ingress(
    'other',
    {
      rules: [{ host: 'other.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('nginx') }] } }],
    },
    'nginx',
  ),
];

test('Ingress routing: host, then longest path, Exact before Prefix, default backend', () => {
  const cases: Array<[string, string, string | undefined]> = [
    ['shop.test', '/', 'front'],
    ['shop.test', '/cart?x=1', 'front'],
    ['shop.test', '/api', 'api'],
    ['shop.test', '/api/', 'api'],
    ['shop.test', '/api/users', 'api'],
    ['shop.test', '/apiary', 'front'],
    ['shop.test', '/api/health', 'health'],
    ['shop.test', '/api/health/deep', 'api'],
    ['eu.shop.test', '/', 'tenant'],
    ['a.eu.shop.test', '/', 'fallback'],
    ['unknown.test', '/any/thing', 'anyhost'],
    ['unknown.test', '/nothing', 'fallback'],
    ['other.test', '/', 'fallback'],
  ];
  for (const [host, path, want] of cases)
    assert.equal(routeFor(ingresses, host, path)?.service, want, `${host}${path}`);
});

test('the TLS secret for a server name', () => {
  assert.deepEqual(tlsSecretFor(ingresses, 'shop.test'), { namespace: 'default', name: 'shop-tls' });
  assert.equal(tlsSecretFor(ingresses, 'eu.shop.test'), undefined);
});
