import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { BOOTSTRAP_TOKEN_TYPE } from '../api/wellknown.js';
import { verifyDetached } from '../pki/jointoken.js';
import { BootstrapSigner } from './bootstrapsigner.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const SECRETS = '/api/v1/namespaces/kube-system/secrets';
const CONFIGMAPS = '/api/v1/configmaps';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function tokenSecret(id: string, secret: string, extra: Record<string, string> = {}): KObject {
  const data: Record<string, string> = { 'token-id': id, 'token-secret': secret, ...extra };
  return {
    metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
    type: BOOTSTRAP_TOKEN_TYPE,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

test('cluster-info is signed for each live signing token, and stale signatures go', async () => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  const kubeconfig = 'apiVersion: v1\nkind: Config\n';
  const client = new FakeClient()
    .seed(
      '/api/v1',
      'secrets',
      tokenSecret('aaaaaa', '0123456789abcdef', { 'usage-bootstrap-signing': 'true' }),
      tokenSecret('bbbbbb', '0123456789abcdef', {
        'usage-bootstrap-signing': 'true',
        expiration: '2026-12-03T11:00:00Z',
      }),
      tokenSecret('cccccc', '0123456789abcdef'),
    )
    .seed('/api/v1', 'configmaps', {
      metadata: { name: 'cluster-info', namespace: 'kube-public' },
      data: { kubeconfig, 'jws-kubeconfig-zzzzzz': 'old..sig' },
    });
  const inf = await informers(client, SECRETS, CONFIGMAPS);
  try {
    const signer = new BootstrapSigner(client, inf.get(SECRETS), inf.get(CONFIGMAPS), quietLogger, () => now);
    await signer.sync('kube-public/cluster-info');
    const data = client.get('/api/v1/namespaces/kube-public/configmaps/cluster-info')!.data as Record<string, string>;
    assert.deepEqual(
      Object.keys(data).sort(),
      ['jws-kubeconfig-aaaaaa', 'kubeconfig'],
      'expired, non-signing and stale left out',
    );
    assert.ok(verifyDetached(kubeconfig, data['jws-kubeconfig-aaaaaa']!, 'aaaaaa', '0123456789abcdef'));
    await signer.sync('kube-system/bootstrap-token-bbbbbb');
    await signer.sync('kube-system/bootstrap-token-aaaaaa');
    assert.deepEqual(client.verbs(), [
      'update /api/v1/namespaces/kube-public/configmaps/cluster-info',
      'delete /api/v1/namespaces/kube-system/secrets/bootstrap-token-bbbbbb',
    ]);
    signer.queue.stop();
  } finally {
    inf.stop();
  }
});
