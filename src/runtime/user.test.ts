import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { resolveUser } from './user.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'gantry-user-'));
after(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(path.join(root, 'etc'));
writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\naudio:x:29:app\nvideo:x:44:\napp:x:1000:\n');

test('--group-add: names from the image, numbers as they are, added once to the supplementary groups', async () => {
  const cases: Array<[string, string[], number[]]> = [
    ['', [], []],
    ['app', [], [29]],
    ['app', ['video', '500', 'audio'], [29, 44, 500]],
    ['', ['video', '44'], [44]],
  ];
  for (const [user, groupAdd, want] of cases)
    assert.deepEqual((await resolveUser(root, user, groupAdd)).additionalGids, want, `${user} ${groupAdd.join(',')}`);
  await assert.rejects(
    resolveUser(root, '', ['nosuch']),
    /Unable to find group nosuch: no matching entries in group file/,
  );
});
