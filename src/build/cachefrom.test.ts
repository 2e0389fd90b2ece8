import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cachedLayer, stepsSinceLastLayer, type CacheSource } from './cachefrom.js';

const desc = (d: string): CacheSource['layers'][number] => ({ mediaType: 'x', digest: `sha256:${d}`, size: 1 });

test('a source image stands in for a step with the same layers below and the same command', () => {
  const source: CacheSource = {
    diffIds: ['base', 'run1', 'copy1'],
    layers: [desc('b'), desc('r'), desc('c')],
    history: [
      { created_by: 'ADD base' },
      { created_by: '/bin/sh -c #(nop)  ENV A=1', empty_layer: true },
      { created_by: '/bin/sh -c make' },
      { created_by: '/bin/sh -c #(nop) COPY file:abc in /x ' },
    ],
  };
  const env = ['/bin/sh -c #(nop)  ENV A=1'];
  const table: Array<[string, string[], string[], string, string | undefined]> = [
    ['first step on the base', ['base'], env, '/bin/sh -c make', 'run1'],
    ['second step', ['base', 'run1'], [], '/bin/sh -c #(nop) COPY file:abc in /x ', 'copy1'],
    ['other command', ['base'], env, '/bin/sh -c make install', undefined],
    ['other config steps before', ['base'], ['/bin/sh -c #(nop)  ENV A=2'], '/bin/sh -c make', undefined],
    ['no config steps before', ['base'], [], '/bin/sh -c make', undefined],
    ['other layers below', ['other'], env, '/bin/sh -c make', undefined],
    ['beyond the source', ['base', 'run1', 'copy1'], [], '/bin/sh -c make', undefined],
  ];
  for (const [what, below, steps, by, want] of table)
    assert.equal(cachedLayer([source], below, steps, by)?.diffId, want, what);
  assert.deepEqual(stepsSinceLastLayer(source.history.slice(0, 2)), env);
});
