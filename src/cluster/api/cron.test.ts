import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidTimeZone, nextRun, parseCron } from './cron.js';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

test('cron schedules: the next run after a time', () => {
  const cases: Array<{ schedule: string; after: string; zone?: string; want: string | undefined }> = [
    { schedule: '* * * * *', after: '2026-12-02T10:00:30Z', want: '2026-12-02T10:01:00.000Z' },
    { schedule: '*/15 * * * *', after: '2026-12-02T10:00:00Z', want: '2026-12-02T10:15:00.000Z' },
    { schedule: '0 9-17/4 * * *', after: '2026-12-02T10:00:00Z', want: '2026-12-02T13:00:00.000Z' },
    { schedule: '30 2 * * mon-fri', after: '2026-12-04T03:00:00Z', want: '2026-12-07T02:30:00.000Z' },
    { schedule: '0 0 1 jan *', after: '2026-12-02T00:00:00Z', want: '2027-01-01T00:00:00.000Z' },
    { schedule: '@hourly', after: '2026-12-02T10:59:59Z', want: '2026-12-02T11:00:00.000Z' },
    { schedule: '@weekly', after: '2026-12-02T00:00:00Z', want: '2026-12-06T00:00:00.000Z' },
    // Both day fields restricted: either matches (the 13th, or a Friday).
    { schedule: '0 0 13 * 5', after: '2026-12-02T00:00:00Z', want: '2026-12-04T00:00:00.000Z' },
    { schedule: '0 0 * * 7', after: '2026-12-02T00:00:00Z', want: '2026-12-06T00:00:00.000Z' },
    { schedule: '0 0 30 2 *', after: '2026-12-02T00:00:00Z', want: undefined },
    { schedule: '0 9 * * *', after: '2026-12-02T00:00:00Z', zone: 'Europe/Berlin', want: '2026-12-02T08:00:00.000Z' },
    { schedule: '0 9 * * *', after: '2026-07-02T00:00:00Z', zone: 'Europe/Berlin', want: '2026-07-02T07:00:00.000Z' },
    // 02:30 does not exist in Berlin on 2027-03-28 (clocks go from 02:00 to 03:00): that day is skipped.
    { schedule: '30 2 * * *', after: '2027-03-27T02:00:00Z', zone: 'Europe/Berlin', want: '2027-03-29T00:30:00.000Z' },
  ];
  for (const c of cases)
    assert.equal(iso(nextRun(parseCron(c.schedule), at(c.after), c.zone)), c.want, `${c.schedule} after ${c.after}`);
});

test('cron schedules: bad ones are refused with the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['* * * *', /expected exactly 5 fields, found 4/],
    ['60 * * * *', /minute: 60 out of range \(0-59\)/],
    ['* * * 13 *', /month: 13 out of range/],
    ['5-1 * * * *', /beginning of range \(5\) beyond end of range \(1\)/],
    ['*/0 * * * *', /invalid step/],
    ['x * * * *', /failed to parse int from x/],
    ['@often', /unrecognized descriptor/],
    ['TZ=UTC * * * * *', /use timeZone field instead/],
  ];
  for (const [schedule, want] of cases) assert.throws(() => parseCron(schedule), want, schedule);
  assert.equal(isValidTimeZone('Europe/Berlin'), true);
  assert.equal(isValidTimeZone('Mars/Olympus'), false);
});
