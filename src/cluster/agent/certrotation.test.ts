import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { rotationDeadline } from './certrotation.js';

test('renewal falls between 70% and 90% of the certificate lifetime', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gantry-rotation-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
        '-keyout',
        'k.pem',
        '-out',
        'c.pem',
        '-days',
        '10',
        '-subj',
        '/CN=system:node:n1',
      ]),
      { cwd: dir, stdio: 'ignore' },
    );
    const pem = readFileSync(path.join(dir, 'c.pem'), 'utf8');
    const cert = new X509Certificate(pem);
    const from = Date.parse(cert.validFrom);
    const life = Date.parse(cert.validTo) - from;
    const cases: Array<[number, number]> = [
      [0, 0.7],
      [0.5, 0.8],
      [1, 0.9],
    ];
    for (const [random, share] of cases)
      assert.equal(
        rotationDeadline(pem, () => random),
        from + life * share,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
