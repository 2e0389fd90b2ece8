import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardRequest, linkHost } from './forwards.js';

test('a port-forward request names a namespace, a pod and a TCP port, or is refused saying which', () => {
  assert.deepEqual(forwardRequest({ namespace: 'default', pod: 'web-1', port: 8080 }), {
    namespace: 'default',
    pod: 'web-1',
    port: 8080,
  });
  const refused: Array<[unknown, RegExp]> = [
    [null, /namespace/],
    ['text', /namespace/],
    [{ namespace: '../x', pod: 'p', port: 1 }, /namespace/],
    [{ namespace: 'default', pod: 'P Q', port: 1 }, /pod/],
    [{ namespace: 'default', pod: 'p', port: 0 }, /port/],
    [{ namespace: 'default', pod: 'p', port: 65536 }, /port/],
    [{ namespace: 'default', pod: 'p', port: '80' }, /port/],
    [{ namespace: 'default', pod: 'p', port: 1.5 }, /port/],
  ];
  for (const [body, reason] of refused) assert.throws(() => forwardRequest(body), reason, JSON.stringify(body));
});

test("a forward's link is on loopback under another name than the dashboard's", () => {
  const cases: Array<[string | undefined, string]> = [
    ['127.0.0.1:6443', 'localhost'],
    ['localhost:6443', '127.0.0.1'],
    ['10.0.0.5:6443', '127.0.0.1'],
    ['[::1]:6443', '127.0.0.1'],
    [undefined, '127.0.0.1'],
  ];
  for (const [host, want] of cases) assert.equal(linkHost(host), want, String(host));
});
