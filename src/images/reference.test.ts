import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familiarString, parseNormalizedReference, parseWithDefaultTag, referenceString } from './reference.js';

test('normalises short names as Docker does', () => {
  assert.equal(referenceString(parseWithDefaultTag('busybox')), 'docker.io/library/busybox:latest');
  assert.equal(referenceString(parseWithDefaultTag('user/app:1.0')), 'docker.io/user/app:1.0');
  assert.equal(referenceString(parseWithDefaultTag('index.docker.io/busybox')), 'docker.io/library/busybox:latest');
  assert.equal(referenceString(parseWithDefaultTag('localhost:5000/a/b:t')), 'localhost:5000/a/b:t');
  assert.equal(referenceString(parseWithDefaultTag('localhost/x')), 'localhost/x:latest');
  assert.equal(referenceString(parseWithDefaultTag('example.com/x')), 'example.com/x:latest');
  assert.equal(referenceString(parseWithDefaultTag('[::1]:5000/x')), '[::1]:5000/x:latest');
});

test('keeps digests and shows familiar names', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  const ref = parseWithDefaultTag(`busybox@${d}`);
  assert.equal(ref.digest, d);
  assert.equal(ref.tag, undefined);
  assert.equal(familiarString(ref), `busybox@${d}`);
  assert.equal(familiarString(parseWithDefaultTag('docker.io/library/busybox')), 'busybox:latest');
  assert.equal(familiarString(parseWithDefaultTag('docker.io/user/app')), 'user/app:latest');
});

test('refuses bad references with Docker wording', () => {
  assert.throws(() => parseNormalizedReference('Busybox'), /repository name \(library\/Busybox\) must be lowercase/);
  assert.throws(
    () => parseNormalizedReference('bad name'),
    /^GantryError: invalid reference format$|invalid reference format/,
  );
  assert.throws(() => parseNormalizedReference(''), /invalid reference format/);
  assert.throws(() => parseNormalizedReference('a'.repeat(64)), /cannot specify 64-byte hexadecimal strings/);
  assert.throws(() => parseNormalizedReference('x:'), /invalid reference format/);
});
