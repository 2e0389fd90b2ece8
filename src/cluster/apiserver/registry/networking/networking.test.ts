import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../../objects.js';
import { ingressClasses, ingressClassProblems, ingressProblems } from './ingress.js';
import { networkPolicyProblems } from './networkpolicy.js';

const messages = (problems: Array<{ field: string; message: string }>): string[] =>
  problems.map((p) => `${p.field}: ${p.message}`);

test('Ingress validation: path types, absolute paths, backends, hosts', () => {
  const backend = { service: { name: 'web', port: { number: 80 } } };
  const ing = (spec: Record<string, unknown>): KObject => ({ metadata: { name: 'i' }, spec });
  const rule = (path: Record<string, unknown>, host = 'a.test'): Record<string, unknown> => ({
    rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend, ...path }] } }],
  });
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['valid', rule({}), []],
    ['a wildcard host', rule({}, '*.a.test'), []],
    ['nothing to route', {}, ['spec: Required value: either `defaultBackend` or `rules` must be specified']],
    [
      'no path type',
      rule({ pathType: undefined }),
      ['spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified'],
    ],
    ['a relative path', rule({ path: 'api' }), ['spec.rules[0].http.paths[0].path: must be an absolute path']],
    [
      'a backend without a port',
      rule({ backend: { service: { name: 'web' } } }),
      ['spec.rules[0].http.paths[0].backend.service.port: Required value: port name or number is required'],
    ],
    [
      'a bad host',
      rule({}, 'A_B'),
      [
        "spec.rules[0].host: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and may start with '*.'",
      ],
    ],
  ];
  for (const [name, spec, want] of cases) assert.deepEqual(messages(ingressProblems(ing(spec))), want, name);
});

test('NetworkPolicy validation: peers, CIDRs and exceptions, ports', () => {
  const np = (ingress: unknown[]): KObject => ({ metadata: { name: 'n' }, spec: { podSelector: {}, ingress } });
  const cases: Array<[string, unknown[], string[]]> = [
    ['valid', [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 80, endPort: 90 }] }], []],
    ['a bad CIDR', [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }], ['spec.ingress[0].from[0].ipBlock.cidr: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']],
    ['an exception outside', [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['192.168.0.0/16'] } }] }], ['spec.ingress[0].from[0].ipBlock.except[0]: must be a strict subset of `cidr`']],
    ['ipBlock with a selector', [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }], ['spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer']],
    ['endPort with a named port', [{ ports: [{ port: 'http', endPort: 90 }] }], ['spec.ingress[0].ports[0].endPort: may not be specified when `port` is non-numeric']],
    ['a bad protocol', [{ ports: [{ protocol: 'ICMP', port: 1 }] }], ['spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"']],
  ]; // prettier-ignore
  for (const [name, ingress, want] of cases) assert.deepEqual(messages(networkPolicyProblems(np(ingress))), want, name);
});

test('IngressClass validation: a domain-prefixed controller and a parameters reference with its scope', () => {
  const cls = (spec: Record<string, unknown>): KObject => {
    const o: KObject = { metadata: { name: 'c' }, spec };
    ingressClasses.defaults?.(o);
    return o;
  };
  const params = { apiGroup: 'k8s.example.com', kind: 'IngressParameters', name: 'lb' };
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['valid, scope defaulted to Cluster', { controller: 'example.com/ingress', parameters: params }, []],
    [
      'namespaced parameters',
      { controller: 'example.com/ingress', parameters: { ...params, scope: 'Namespace', namespace: 'ops' } },
      [],
    ],
    ['no controller', {}, ['spec.controller: Required value']],
    [
      'not domain-prefixed',
      { controller: 'ingress' },
      ['spec.controller: must be a domain-prefixed path (such as "acme.io/foo")'],
    ],
    ['no kind', { controller: 'a.io/b', parameters: { name: 'lb' } }, ['spec.parameters.kind: Required value']],
    [
      'an unknown scope',
      { controller: 'a.io/b', parameters: { ...params, scope: 'World' } },
      ['spec.parameters.scope: Unsupported value: "World": supported values: "Cluster", "Namespace"'],
    ],
    [
      'Namespace scope without one',
      { controller: 'a.io/b', parameters: { ...params, scope: 'Namespace' } },
      ["spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"],
    ],
    [
      'Cluster scope with one',
      { controller: 'a.io/b', parameters: { ...params, namespace: 'ops' } },
      ["spec.parameters.namespace: Forbidden: `parameters.scope` is set to 'Cluster'"],
    ],
  ];
  for (const [name, spec, want] of cases) assert.deepEqual(messages(ingressClassProblems(cls(spec))), want, name);
  const printed = ingressClasses
    .columns!.find((c) => c.name === 'Parameters')!
    .cell(cls({ controller: 'a.io/b', parameters: params }));
  assert.equal(printed, 'IngressParameters.k8s.example.com/lb');
});
