import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { KObject } from '../api/object.js';
import { networkPolicyRules, type PodView } from './netpolrules.js';

const pod = (name: string, ip: string, labels: Record<string, string>, ns = 'default'): PodView => ({
  namespace: ns,
  name,
  ip,
  labels,
  ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
});
const policy = (name: string, spec: Record<string, unknown>, ns = 'default'): KObject => ({
  metadata: { name, namespace: ns, uid: `${name}-uid` },
  spec: { policyTypes: ['Ingress'], ...spec },
});

const db = pod('db', '10.42.0.10', { app: 'db' });
const web = pod('web', '10.42.1.20', { app: 'web' });
const other = pod('other', '10.42.1.30', { app: 'web' }, 'team');
const all = [db, web, other];
const namespaces = new Map<string, Record<string, string>>([
  ['default', {}],
  ['team', { team: 'a' }],
]);

test('NetworkPolicy rules: who is isolated and what each allows', () => {
  const cases: Array<{ name: string; policies: KObject[]; isolated: string[]; allows: RegExp[]; not?: RegExp[] }> = [
    {
      name: 'no policy: nothing isolated',
      policies: [policy('x', { podSelector: { matchLabels: { app: 'none' } } })],
      isolated: [],
      allows: [],
    },
    {
      name: 'default deny: isolated, nothing allowed',
      policies: [policy('deny', { podSelector: {} })],
      isolated: ['ingress 10.42.0.10', 'ingress 10.42.1.20'],
      allows: [/-A GANTRY-NPI-\w+ -j REJECT/],
      not: [/--set-xmark 0x20000/],
    },
    {
      name: 'allow from app=web on the named port: pod peers in the namespace only',
      policies: [
        policy('db', {
          podSelector: { matchLabels: { app: 'db' } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 'http' }] }],
        }),
      ],
      isolated: ['ingress 10.42.0.10'],
      allows: [/-s 10\.42\.1\.20\/32 -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x20000\/0x20000/],
      not: [/10\.42\.1\.30/],
    },
    {
      name: 'namespaceSelector reaches other namespaces; ipBlock with an exception',
      policies: [
        policy('db', {
          podSelector: { matchLabels: { app: 'db' } },
          ingress: [
            { from: [{ namespaceSelector: { matchLabels: { team: 'a' } } }] },
            {
              from: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] } }],
              ports: [{ port: 80, endPort: 90 }],
            },
          ],
        }),
      ],
      isolated: ['ingress 10.42.0.10'],
      allows: [
        /-s 10\.42\.1\.30\/32 -j MARK/,
        /-A GANTRY-NPB-\w+ -s 192\.168\.1\.0\/24 -j RETURN/,
        /-A GANTRY-NPB-\w+ -s 192\.168\.0\.0\/16 -p tcp -m tcp --dport 80:90 -j MARK/,
      ],
    },
    {
      name: 'egress: only to db on 8080',
      policies: [
        policy('out', {
          podSelector: { matchLabels: { app: 'web' } },
          policyTypes: ['Egress'],
          egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
        }),
      ],
      isolated: ['egress 10.42.1.20'],
      allows: [
        /-A GANTRY-NETPOL -s 10\.42\.1\.20\/32 -j GANTRY-NPE-/,
        /-d 10\.42\.0\.10\/32 -p tcp -m tcp --dport 8080 -j MARK/,
      ],
    },
  ];
  for (const c of cases) {
    const { lines, isolated } = networkPolicyRules(c.policies, all, all, namespaces);
    const text = lines.join('\n');
    assert.deepEqual(isolated.sort(), c.isolated.sort(), c.name);
    for (const re of c.allows) assert.match(text, re, c.name);
    for (const re of c.not ?? []) assert.doesNotMatch(text, re, c.name);
    // What iptables-restore itself accepts (checked, not applied).
    execFileSync('iptables-restore', ['-w', '--noflush', '--test'], {
      input: text + '\n',
      stdio: ['pipe', 'ignore', 'pipe'],
    });
  }
});
