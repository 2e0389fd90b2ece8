import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyValues, parseDockerfile, processWords } from './dockerfile.js';

test('stages, ARG before FROM, flags, JSON and shell forms, continuations, heredocs', () => {
  const df = parseDockerfile(
    [
      'ARG BASE=busybox',
      'FROM ${BASE} AS build',
      'COPY --from=x --chown=1:1 a b /c/',
      'RUN echo a \\',
      '  && echo b',
      'CMD ["node", "app.js"]',
      'RUN <<EOF',
      'echo hi',
      'EOF',
      'FROM build',
      'ENV A=1',
    ].join('\n'),
  );
  assert.equal(df.globalArgs.length, 1);
  assert.deepEqual(
    df.stages.map((s) => [s.name, s.base, s.line]),
    [
      ['build', '${BASE}', 2],
      [undefined, 'build', 10],
    ],
  );
  const [copy, run, cmd, heredoc] = df.stages[0]!.instructions;
  assert.deepEqual(copy!.flags, { from: 'x', chown: '1:1' });
  assert.equal(copy!.args, 'a b /c/');
  assert.equal(run!.args, 'echo a   && echo b');
  assert.equal(run!.line, 4);
  assert.deepEqual(cmd!.json, ['node', 'app.js']);
  assert.deepEqual(heredoc!.heredocs, [{ name: 'EOF', body: 'echo hi\n' }]);
});

test('errors name the line', () => {
  assert.throws(
    () => parseDockerfile('FROM busybox\nBOGUS x\n'),
    /Dockerfile parse error line 2: unknown instruction: BOGUS/,
  );
  assert.throws(() => parseDockerfile('RUN true\n'), /line 1: RUN before FROM/);
  assert.throws(() => parseDockerfile('FROM a b\n'), /line 1: FROM requires either one or three arguments/);
  assert.throws(() => parseDockerfile(''), /cannot be empty/);
});

test('word processing: substitution forms, quotes, escapes', () => {
  const env = { A: 'x', EMPTY: '', SP: 'two words' };
  assert.deepEqual(processWords('$A ${A} ${B:-def} ${EMPTY:-e} ${EMPTY-e} ${A:+alt} ${B:+alt} ${B+alt}', env), [
    'x',
    'x',
    'def',
    'e',
    'alt',
  ]);
  assert.deepEqual(processWords(`"$SP" '$A' \\$A a\\ b`, env), ['two words', '$A', '$A', 'a b']);
  assert.deepEqual(keyValues('A=1 B="two words" C=$A', env, '\\', 'ENV', 1), [
    ['A', '1'],
    ['B', 'two words'],
    ['C', 'x'],
  ]);
  assert.deepEqual(keyValues('KEY value with spaces', env, '\\', 'ENV', 1), [['KEY', 'value with spaces']]);
  assert.deepEqual(keyValues('V', env, '\\', 'ARG', 1), [['V', undefined]]);
});
