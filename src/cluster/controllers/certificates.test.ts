import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_KUBELET_SIGNER, KUBELET_SERVING_SIGNER, nodeRequestShape } from './certificates.js';

const node = 'CN=system:node:n1,O=system:nodes';
const client = ['client auth', 'digital signature', 'key encipherment'];
const serving = ['server auth', 'digital signature', 'key encipherment'];
const csr = (subject: string, sans: { dns?: string[]; ips?: string[]; other?: string[] } = {}) => ({
  subject,
  dns: sans.dns ?? [],
  ips: sans.ips ?? [],
  otherSans: sans.other ?? [],
});

test("node certificate requests: only what the node's signers issue is signed", () => {
  const cases: Array<[string, string, string[], ReturnType<typeof csr>, object | RegExp]> = [
    ['a client certificate', CLIENT_KUBELET_SIGNER, client, csr(node), { node: 'n1', dns: [], ips: [] }],
    [
      'a serving certificate with its names',
      KUBELET_SERVING_SIGNER,
      serving,
      csr(node, { dns: ['n1'], ips: ['192.168.49.2'] }),
      { node: 'n1', dns: ['n1'], ips: ['192.168.49.2'] },
    ],
    ['another subject', CLIENT_KUBELET_SIGNER, client, csr('CN=admin,O=system:masters'), /subject must be/],
    [
      'a node name that is no DNS name',
      CLIENT_KUBELET_SIGNER,
      client,
      csr('CN=system:node:N_1,O=system:nodes'),
      /subject/,
    ],
    ['client auth for the serving signer', KUBELET_SERVING_SIGNER, client, csr(node, { dns: ['n1'] }), /server auth/],
    ['an extra usage', CLIENT_KUBELET_SIGNER, [...client, 'code signing'], csr(node), /usages must include/],
    [
      'names on a client certificate',
      CLIENT_KUBELET_SIGNER,
      client,
      csr(node, { dns: ['n1'] }),
      /no subject alternative/,
    ],
    ['a serving certificate without names', KUBELET_SERVING_SIGNER, serving, csr(node), /needs a DNS name or an IP/],
    ['an email name', KUBELET_SERVING_SIGNER, serving, csr(node, { other: ['email:a@b'] }), /only DNS and IP/],
    ['a bad DNS name', KUBELET_SERVING_SIGNER, serving, csr(node, { dns: ['-bad-'] }), /must be DNS names/],
  ];
  for (const [name, signer, usages, contents, want] of cases) {
    const got = nodeRequestShape(signer, usages, contents);
    if (want instanceof RegExp) assert.match((got as { problem: string }).problem ?? '', want, name);
    else assert.deepEqual(got, want, name);
  }
});
