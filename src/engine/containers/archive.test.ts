import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutEngineMounts } from './archive.js';

test("docker diff leaves out the engine's mountpoints, and a directory changed only by them", () => {
  const change = (Path: string, Kind: 0 | 1 | 2) => ({ Path, Kind });
  assert.deepEqual(
    withoutEngineMounts([
      change('/dev', 1),
      change('/dev/console', 1),
      change('/etc', 0),
      change('/etc/hosts', 1),
      change('/etc/resolv.conf', 1),
      change('/proc', 1),
      change('/tmp', 0),
      change('/tmp/file', 1),
    ]),
    [change('/tmp', 0), change('/tmp/file', 1)],
  );
  assert.deepEqual(withoutEngineMounts([change('/etc', 0), change('/etc/hosts', 1), change('/etc/motd', 1)]), [
    change('/etc', 0),
    change('/etc/motd', 1),
  ]);
});
