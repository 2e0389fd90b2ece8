import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../network/ipnet.js';
import { nodeName } from './cluster.js';
import { chooseSubnet, lanNode, lanPlan, lbRange } from './lan.js';

test("nodes are named as minikube names them, devices fit Linux's 15 characters", () => {
  assert.deepEqual(
    [1, 2, 10, 100].map((i) => nodeName('gantry', i)),
    ['gantry', 'gantry-m02', 'gantry-m10', 'gantry-m100'],
  );
  const subnet = parseCidr('192.168.49.0/24');
  const plan = lanPlan('a-cluster-name-of-twenty', subnet);
  assert.equal(plan.hostIp, '192.168.49.1');
  assert.ok(plan.bridge.length <= 15, plan.bridge);
  const n = lanNode('a-cluster-name-of-twenty', subnet, 190, 'x-m190');
  assert.ok(n.hostVeth.length <= 15, n.hostVeth);
  assert.equal(n.ip, '192.168.49.191');
  assert.equal(lanNode('c', subnet, 1, 'c').ip, '192.168.49.2');
  assert.equal(lbRange(plan), '192.168.49.200-192.168.49.254');
});

test('the node LAN is a /24 clear of what is taken', () => {
  const taken = [parseCidr('192.168.49.0/24'), parseCidr('192.168.50.0/23')];
  const free = chooseSubnet(undefined, taken);
  assert.ok(![49, 50, 51].includes(Number(free.base >>> 8) & 255), 'skips the taken ranges');
  assert.throws(() => chooseSubnet('192.168.50.0/24', taken), /overlaps 192.168.50.0\/23/);
  assert.throws(() => chooseSubnet('10.9.0.0/16', taken), /the node LAN is a \/24/);
  assert.throws(() => chooseSubnet('nonsense', taken), /invalid CIDR/);
});
