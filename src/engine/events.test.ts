import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesFilters, type EngineEvent } from './events.js';

const ev = (
  Type: EngineEvent['Type'],
  Action: string,
  ID: string,
  Attributes: Record<string, string>,
): EngineEvent => ({
  Type,
  Action,
  Actor: { ID, Attributes },
  scope: 'local',
  time: 0,
  timeNano: 0,
});

test('event filters as moby applies them', () => {
  const start = ev('container', 'start', 'abc123def', { name: 'web', image: 'busybox:latest', tier: 'front' });
  const exec = ev('container', 'exec_start: sh -c true', 'abc123def', { name: 'web', image: 'busybox:latest' });
  const pull = ev('image', 'pull', 'busybox:latest', { name: 'busybox' });
  const vol = ev('volume', 'create', 'data-vol', { driver: 'local' });
  const net = ev('network', 'connect', 'fedcba98', { name: 'backend', container: 'abc123def', type: 'bridge' });
  const table: Array<[string, EngineEvent, Record<string, string[]>, boolean]> = [
    ['type', start, { type: ['container'] }, true],
    ['other type', start, { type: ['image'] }, false],
    ['event exact', start, { event: ['start'] }, true],
    ['event not a prefix', start, { event: ['sta'] }, false],
    ['exec_start matches its long form', exec, { event: ['exec_start'] }, true],
    ['container by name', start, { container: ['web'] }, true],
    ['container by id prefix', start, { container: ['abc1'] }, true],
    ['container filter leaves out images', pull, { container: ['web'] }, false],
    ['image of a container event, tag stripped', start, { image: ['busybox'] }, true],
    ['image event by reference', pull, { image: ['busybox:latest'] }, true],
    ['other image', start, { image: ['redis'] }, false],
    ['label key', start, { label: ['tier'] }, true],
    ['label key=value', start, { label: ['tier=front'] }, true],
    ['label other value', start, { label: ['tier=back'] }, false],
    ['volume by name', vol, { volume: ['data-vol'] }, true],
    ['volume by prefix', vol, { volume: ['data'] }, true],
    ['network by name', net, { network: ['backend'] }, true],
    ['network filter leaves out containers', start, { network: ['backend'] }, false],
    ['alternatives in one key', vol, { type: ['image', 'volume'] }, true],
    ['every key must match', start, { type: ['container'], event: ['die'] }, false],
  ];
  for (const [what, e, filters, want] of table) assert.equal(matchesFilters(e, filters), want, what);
});
