import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dockerignore } from './context.js';

test('.dockerignore as moby reads and matches it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gantry-ignore-'));
  try {
    writeFileSync(
      path.join(dir, '.dockerignore'),
      [
        '\ufeff# a comment',
        '  spaced name  ',
        ' # not a comment',
        '**/*.log',
        '!keep.log',
        '/abs',
        'docs/../other',
        'secret/**',
        '!secret/public/readme',
        'vendor',
        '! vendor/kept ',
      ].join('\n'),
    );
    const ignored = await dockerignore(dir);
    const table: Array<[string, boolean]> = [
      ['# a comment', false],
      ['spaced name', true],
      ['# not a comment', true],
      ['a.log', true],
      ['x/y/a.log', true],
      ['keep.log', false],
      ['abs', true],
      ['other', true],
      ['docs', false],
      ['secret/key', true],
      ['secret/public/readme', false],
      ['vendor', true],
      ['vendor/lib', true],
      ['vendor/kept', false],
      ['main.go', false],
    ];
    for (const [p, want] of table) assert.equal(ignored(p), want, p);
    const descend: Array<[string, boolean]> = [
      ['vendor', true],
      ['secret', true],
      ['secret/public', true],
      ['secret/private', false],
      ['x', false],
    ];
    for (const [p, want] of descend) assert.equal(ignored.descend(p), want, `descend ${p}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
