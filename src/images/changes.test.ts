import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChanges } from './changes.js';

test('applies --change instructions as Docker does', () => {
  const cfg = applyChanges({}, [
    'CMD ["/bin/sh"]',
    'ENTRYPOINT echo hi',
    'ENV A=1 B="two words"',
    'ENV LEGACY some value',
    'EXPOSE 80 53/udp',
    'LABEL a=b',
    'WORKDIR /srv',
    'USER nobody',
    'VOLUME ["/data"]',
    'STOPSIGNAL SIGINT',
  ]);
  assert.deepEqual(cfg.Cmd, ['/bin/sh']);
  assert.deepEqual(cfg.Entrypoint, ['/bin/sh', '-c', 'echo hi']);
  assert.deepEqual(cfg.Env, ['A=1', 'B=two words', 'LEGACY=some value']);
  assert.deepEqual(cfg.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.deepEqual(cfg.Labels, { a: 'b' });
  assert.equal(cfg.WorkingDir, '/srv');
  assert.equal(cfg.User, 'nobody');
  assert.deepEqual(cfg.Volumes, { '/data': {} });
  assert.equal(cfg.StopSignal, 'SIGINT');
  assert.throws(() => applyChanges({}, ['RUN echo']), /RUN is not a valid change command/);
});
