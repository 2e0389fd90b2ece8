import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, decodeAuthHeader, encodeAuthHeader, parseChallenges } from './auth.js';

test('parses bearer and basic challenges', () => {
  const [c] = parseChallenges(
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
  );
  assert.equal(c?.scheme, 'bearer');
  assert.equal(c?.params.realm, 'https://auth.docker.io/token');
  assert.equal(c?.params.scope, 'repository:library/busybox:pull');
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
  ]);
});

test('round-trips X-Registry-Auth and decodes config.json auth', () => {
  const h = encodeAuthHeader({ username: 'u', password: 'p?>' });
  assert.deepEqual(decodeAuthHeader(h), { username: 'u', password: 'p?>' });
  assert.deepEqual(decodeAuthHeader('e30='), {});
  assert.equal(decodeAuthHeader(''), undefined);
  assert.deepEqual(credentials({ auth: Buffer.from('me:secret:x').toString('base64') }), {
    username: 'me',
    password: 'secret:x',
  });
});
