import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCaCertHash, parseJoinToken, signDetached, verifyDetached } from './jointoken.js';

test('join tokens: the bootstrap form and the form carrying the CA hash', () => {
  const hash = 'a'.repeat(64);
  const cases: Array<[string, ReturnType<typeof parseJoinToken>]> = [
    [
      'abcdef.0123456789abcdef',
      { id: 'abcdef', secret: '0123456789abcdef', bootstrap: 'abcdef.0123456789abcdef', caHash: undefined },
    ],
    [
      `K10${hash}::abcdef.0123456789abcdef\n`,
      { id: 'abcdef', secret: '0123456789abcdef', bootstrap: 'abcdef.0123456789abcdef', caHash: hash },
    ],
    ['ABCDEF.0123456789abcdef', undefined],
    ['abcdef.0123456789abcde', undefined],
    [`K10${hash}abcdef.0123456789abcdef`, undefined],
    [`K10${hash.slice(1)}::abcdef.0123456789abcdef`, undefined],
    ['', undefined],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseJoinToken(text), want, JSON.stringify(text));
});

test('CA hash flags as kubeadm takes them', () => {
  const hex = 'AB'.repeat(32);
  assert.equal(parseCaCertHash(`sha256:${hex}`), hex.toLowerCase());
  assert.equal(parseCaCertHash(hex), undefined);
  assert.equal(parseCaCertHash(`sha1:${hex}`), undefined);
});

test('detached JWS: verifies with the token that signed it, nothing else', () => {
  const content = 'apiVersion: v1\nkind: Config\n';
  const jws = signDetached(content, 'abcdef', '0123456789abcdef');
  assert.match(jws, /^[\w-]+\.\.[\w-]+$/);
  assert.equal(verifyDetached(content, jws, 'abcdef', '0123456789abcdef'), true);
  assert.equal(verifyDetached(content + ' ', jws, 'abcdef', '0123456789abcdef'), false, 'other content');
  assert.equal(verifyDetached(content, jws, 'abcdef', '0123456789abcdee'), false, 'other secret');
  assert.equal(verifyDetached(content, jws, 'abcdeg', '0123456789abcdef'), false, 'other id');
  assert.equal(verifyDetached(content, 'garbage', 'abcdef', '0123456789abcdef'), false);
});
