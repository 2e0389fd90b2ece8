import { test } from 'node:test';
import assert from 'node:assert/strict';
import { searchRepositories, searchTarget } from './search.js';

test('search terms name their index as moby parses them', () => {
  const table: Array<[string, string, string]> = [
    ['busybox', 'docker.io', 'busybox'],
    ['library/busybox', 'docker.io', 'busybox'],
    ['someone/tool', 'docker.io', 'someone/tool'],
    ['localhost/x', 'localhost', 'x'],
    ['127.0.0.1:5000/busy', '127.0.0.1:5000', 'busy'],
    ['registry.example.com/team/app', 'registry.example.com', 'team/app'],
  ];
  for (const [term, index, name] of table) assert.deepEqual(searchTarget(term), { index, name }, term);
});

test('a registry pages the repositories whose name holds the query', () => {
  const repos = ['library/busybox', 'library/redis', 'team/BusyApp', 'team/other'];
  const first = searchRepositories(repos, 'busy', 1, 1);
  assert.equal(first.num_results, 2);
  assert.equal(first.num_pages, 2);
  assert.deepEqual(
    first.results.map((r) => r.name),
    ['library/busybox'],
  );
  assert.deepEqual(
    searchRepositories(repos, 'busy', 1, 2).results.map((r) => r.name),
    ['team/BusyApp'],
  );
  assert.equal(searchRepositories(repos, 'nothing', 25, 1).num_results, 0);
  assert.equal(searchRepositories(repos, '', 1000, 1).page_size, 100);
});
