/**
 * The API server's audit hook (`--audit-log-path`): one audit.k8s.io/v1 Event per request at the
 * Metadata level — user, verb, object, response code — with impersonation recorded and no secret
 * (bearer token, Secret data) ever written. kubectl 1.33.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Cleanup, hasKubectl, kubectl, run, startServer, tempDir, waitFor } from './helpers.js';

interface AuditEvent {
  kind: string;
  apiVersion: string;
  level: string;
  verb: string;
  user: { username: string; groups: string[] };
  impersonatedUser?: { username: string };
  objectRef?: { resource: string; namespace?: string; name?: string };
  responseStatus: { code: number };
}

describe('audit log', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  test('every request is recorded at the Metadata level, and no secret is', async () => {
    const log = path.join(tempDir(cleanup), 'audit.log');
    const server = await startServer(cleanup, ['--disable-controller-manager', '--audit-log-path', log]);
    const k = (args: string[]): { code: number; stdout: string; stderr: string } =>
      run(kubectl, args, { env: server.env });
    assert.equal(k(['create', 'secret', 'generic', 'hush', '--from-literal=password=s3cr3t-value']).code, 0);
    assert.equal(k(['get', 'pods', '-n', 'default']).code, 0);
    assert.notEqual(k(['get', 'configmap', 'nope']).code, 0);
    assert.notEqual(k(['get', 'secrets', '--as=someone']).code, 0);
    const events = (): AuditEvent[] =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditEvent);
    await waitFor(() => events().some((e) => e.user.username === 'admin' && e.impersonatedUser), 'the events', 5000);
    const all = events();
    assert.ok(all.every((e) => e.kind === 'Event' && e.apiVersion === 'audit.k8s.io/v1' && e.level === 'Metadata'));
    const find = (verb: string, resource: string, code: number): AuditEvent | undefined =>
      all.find((e) => e.verb === verb && e.objectRef?.resource === resource && e.responseStatus.code === code);
    assert.equal(find('create', 'secrets', 201)?.objectRef?.namespace, 'default');
    assert.equal(find('list', 'pods', 200)?.user.username, 'admin');
    assert.equal(find('get', 'configmaps', 404)?.objectRef?.name, 'nope');
    const impersonated = find('list', 'secrets', 403);
    assert.equal(impersonated?.impersonatedUser?.username, 'someone');
    const text = readFileSync(log, 'utf8');
    assert.ok(!text.includes(server.token), 'no bearer token in the log');
    assert.ok(
      !text.includes('s3cr3t') && !text.includes(Buffer.from('s3cr3t-value').toString('base64')),
      'no Secret data',
    );
    assert.equal(statSync(log).mode & 0o777, 0o600);
  });
});
