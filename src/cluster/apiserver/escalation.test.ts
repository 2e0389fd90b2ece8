import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uncovered } from './escalation.js';
import type { PolicyRule } from './rbac.js';

const admin: PolicyRule[] = [
  { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
  { nonResourceURLs: ['*'], verbs: ['*'] },
];
const podReader: PolicyRule[] = [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] }];

test('which granted permissions the granter does not hold (Kubernetes Covers)', () => {
  const cases: Array<{ name: string; owner: PolicyRule[]; servant: PolicyRule[]; missing: string[] }> = [
    { name: 'admin covers anything', owner: admin, servant: admin, missing: [] },
    { name: 'the same rules', owner: podReader, servant: podReader, missing: [] },
    {
      name: 'a subset',
      owner: podReader,
      servant: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
      missing: [],
    },
    {
      name: 'another verb',
      owner: podReader,
      servant: [{ apiGroups: [''], resources: ['pods'], verbs: ['delete'] }],
      missing: ['{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}'],
    },
    {
      name: 'a wildcard needs a wildcard',
      owner: podReader,
      servant: [{ apiGroups: [''], resources: ['pods'], verbs: ['*'] }],
      missing: ['{APIGroups:[""], Resources:["pods"], Verbs:["*"]}'],
    },
    {
      name: 'cluster-admin from a pod reader',
      owner: podReader,
      servant: admin,
      missing: ['{APIGroups:["*"], Resources:["*"], Verbs:["*"]}', '{NonResourceURLs:["*"], Verbs:["*"]}'],
    },
    {
      name: 'named resources need the name',
      owner: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['a'], verbs: ['get'] }],
      servant: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
      missing: ['{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}'],
    },
    {
      name: 'a name the owner holds',
      owner: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['a'], verbs: ['get'] }],
      servant: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['a'], verbs: ['get'] }],
      missing: [],
    },
    {
      name: '*/subresource covers one subresource',
      owner: [{ apiGroups: ['apps'], resources: ['*/scale'], verbs: ['update'] }],
      servant: [{ apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['update'] }],
      missing: [],
    },
    {
      name: 'URL prefixes',
      owner: [{ nonResourceURLs: ['/healthz/*'], verbs: ['get'] }],
      servant: [{ nonResourceURLs: ['/healthz/ready', '/metrics'], verbs: ['get'] }],
      missing: ['{NonResourceURLs:["/metrics"], Verbs:["get"]}'],
    },
    {
      name: 'another group',
      owner: podReader,
      servant: [{ apiGroups: ['apps'], resources: ['pods'], verbs: ['get'] }],
      missing: ['{APIGroups:["apps"], Resources:["pods"], Verbs:["get"]}'],
    },
  ];
  for (const c of cases) assert.deepEqual(uncovered(c.owner, c.servant), c.missing, c.name);
});
