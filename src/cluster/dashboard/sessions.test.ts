import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kubeconfigCredentials } from './dashboard.js';
import { DashboardSessions, LoginError, sessionIdOf, tokenRefusal } from './sessions.js';

const tokens = new Map([['good', { username: 'alice', groups: ['system:authenticated'] }]]);
const authn = { authenticateToken: (t: string) => Promise.resolve(tokens.get(t)) };

/** A CA, a client certificate it issued (CN alice, O team), and one it did not. */
function certificates(): { ca: string; cert: string; key: string; stranger: string; strangerKey: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-sessions-'));
  try {
    const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-subj',
      '/CN=test-ca',
      '-days',
      '1',
    );
    ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'c.key',
      '-out',
      'c.csr',
      '-subj',
      '/O=team/CN=alice',
    );
    ssl(
      'x509',
      '-req',
      '-in',
      'c.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'c.crt',
      '-days',
      '1',
    );
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      's.key',
      '-out',
      's.crt',
      '-subj',
      '/CN=mallory',
      '-days',
      '1',
    );
    const read = (f: string): string => readFileSync(path.join(dir, f), 'utf8');
    return {
      ca: read('ca.crt'),
      cert: read('c.crt'),
      key: read('c.key'),
      stranger: read('s.crt'),
      strangerKey: read('s.key'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('token sessions: a wrong token is refused with the reason; a revoked one ends the session', async () => {
  const s = new DashboardSessions(authn, certificates().ca);
  await assert.rejects(s.loginWithToken('bad'), /not valid for this cluster/);
  const { id, user } = await s.loginWithToken(' good\n');
  assert.equal(user.username, 'alice');
  assert.equal((await s.user(id)).username, 'alice');
  tokens.delete('good');
  await assert.rejects(s.user(id), LoginError);
  await assert.rejects(s.user(id), /not logged in/, 'the session is gone once refused');
  tokens.set('good', { username: 'alice', groups: ['system:authenticated'] });
  await assert.rejects(s.user(undefined), /not logged in/);
  await assert.rejects(s.user('made-up'), /not logged in/);
});

test('tokenRefusal names an expired JWT', () => {
  const jwt = (claims: object): string =>
    ['e30', Buffer.from(JSON.stringify(claims)).toString('base64url'), 'sig'].join('.');
  assert.match(tokenRefusal(jwt({ exp: 1_000_000 })), /the token expired at 1970-01-12/);
  assert.match(tokenRefusal(jwt({ exp: Date.now() / 1000 + 600 })), /not valid/);
  assert.match(tokenRefusal('opaque'), /not valid/);
});

test('certificate sessions: only the cluster CA, only with the matching key; the user from CN and O', () => {
  const c = certificates();
  const s = new DashboardSessions(authn, c.ca);
  const { user } = s.loginWithCertificate(c.cert, c.key);
  assert.deepEqual(user, { username: 'alice', groups: ['team', 'system:authenticated'] });
  assert.throws(() => s.loginWithCertificate(c.stranger, c.strangerKey), /not issued by this cluster's CA/);
  assert.throws(() => s.loginWithCertificate(c.cert, c.strangerKey), /does not belong to the certificate/);
  assert.throws(() => s.loginWithCertificate('junk', c.key), /not a PEM certificate/);
});

test('login links work once', async () => {
  const s = new DashboardSessions(authn, certificates().ca);
  const code = s.createLink({ username: 'admin', groups: ['system:masters'] });
  const { id } = s.loginWithLink(code);
  assert.equal((await s.user(id)).username, 'admin');
  assert.throws(() => s.loginWithLink(code), /already used or has expired/);
  s.logout(id);
  await assert.rejects(s.user(id), /not logged in/);
});

test('kubeconfigCredentials: the current user token or embedded certificate; sessionIdOf reads the cookie', () => {
  const kc = (user: string): string => `apiVersion: v1
current-context: b
contexts: [{name: a, context: {cluster: c, user: ua}}, {name: b, context: {cluster: c, user: ub}}]
users: [{name: ua, user: {token: wrong}}, {name: ub, user: ${user}}]
`;
  assert.deepEqual(kubeconfigCredentials(kc('{token: right}')), { token: 'right' });
  assert.deepEqual(
    kubeconfigCredentials(kc(`{client-certificate-data: ${btoa('CERT')}, client-key-data: ${btoa('KEY')}}`)),
    { certificate: 'CERT', key: 'KEY' },
  );
  assert.throws(() => kubeconfigCredentials(kc('{client-certificate: /file}')), /neither a token nor embedded/);
  assert.throws(() => kubeconfigCredentials('a: [b'), /not YAML/);
  assert.equal(sessionIdOf('x=1; gantry-dashboard-session=abc ; y=2'), 'abc');
  assert.equal(sessionIdOf(undefined), undefined);
});
