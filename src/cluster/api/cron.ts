/**
 * Cron schedules as CronJobs write them (robfig/cron's standard parser, which Kubernetes uses): five
 * fields — minute, hour, day of month, month, day of week — each `*`, `?`, a value, a range `a-b`, a
 * step `*\/n` or `a-b/n`, or a list of these; month and weekday names; `@yearly`, `@monthly`, `@weekly`,
 * `@daily`, `@midnight`, `@hourly`. When both day fields are restricted a day matching either runs, as
 * in cron. Times are found in an IANA time zone (`spec.timeZone`), UTC by default.
 */

export interface CronSchedule {
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Day of month or day of week was `*`/`?`: then both must match, else either. */
  dayStar: boolean;
  weekdayStar: boolean;
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldRule {
  name: string;
  min: number;
  max: number;
  names?: string[];
  namesFrom?: number;
}

const FIELDS: FieldRule[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: 'day of week', min: 0, max: 6, names: WEEKDAYS, namesFrom: 0 },
];

function value(text: string, rule: FieldRule): number {
  const named = rule.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return named + (rule.namesFrom ?? 0);
  if (!/^\d+$/.test(text)) throw new Error(`failed to parse int from ${text}`);
  const n = Number(text);
  // robfig/cron takes 7 as Sunday as well.
  if (rule.name === 'day of week' && n === 7) return 0;
  if (n < rule.min || n > rule.max) throw new Error(`${rule.name}: ${n} out of range (${rule.min}-${rule.max})`);
  return n;
}

function field(text: string, rule: FieldRule): { values: Set<number>; star: boolean } {
  const values = new Set<number>();
  let star = false;
  for (const part of text.split(',')) {
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined || range === undefined || range === '') throw new Error(`invalid field: ${part}`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (stepText !== undefined && (!/^\d+$/.test(stepText) || step < 1)) throw new Error(`invalid step: ${part}`);
    let lo: number;
    let hi: number;
    if (range === '*' || range === '?') {
      [lo, hi] = [rule.min, rule.max];
      if (stepText === undefined) star = true;
    } else if (range.includes('-')) {
      const [a, b, more] = range.split('-');
      if (more !== undefined || !a || !b) throw new Error(`invalid range: ${part}`);
      [lo, hi] = [value(a, rule), value(b, rule)];
      if (lo > hi) throw new Error(`beginning of range (${lo}) beyond end of range (${hi}): ${part}`);
    } else {
      lo = value(range, rule);
      hi = stepText === undefined ? lo : rule.max;
    }
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return { values, star };
}

/** Parse a schedule; throws an Error naming what is wrong. */
export function parseCron(schedule: string): CronSchedule {
  const text = schedule.trim();
  if (/^(CRON_)?TZ=/.test(text)) throw new Error('cannot use TZ or CRON_TZ in schedule, use timeZone field instead');
  const expanded = text.startsWith('@') ? MACROS[text.toLowerCase()] : text;
  if (!expanded) throw new Error(`unrecognized descriptor: ${text}`);
  const parts = expanded.split(/\s+/).filter(Boolean);
  if (parts.length !== 5) throw new Error(`expected exactly 5 fields, found ${parts.length}: [${parts.join(' ')}]`);
  const [minute, hour, day, month, weekday] = parts.map((p, i) => field(p, FIELDS[i]!));
  return {
    minutes: minute!.values,
    hours: hour!.values,
    days: day!.values,
    months: month!.values,
    weekdays: weekday!.values,
    dayStar: day!.star,
    weekdayStar: weekday!.star,
  };
}

/** Whether an IANA zone name is known here (Node's ICU data, as Go's tzdata). */
export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Milliseconds the zone's wall clock is ahead of UTC at `instant`. */
function zoneOffsetMs(instant: number, zone: string): number {
  if (zone === 'UTC') return 0;
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(instant)).map((x) => [x.type, x.value]));
  const wall = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour!, +p.minute!, +p.second!);
  return wall - (instant - (instant % 1000));
}

function dayMatches(s: CronSchedule, wall: Date): boolean {
  const dom = s.days.has(wall.getUTCDate());
  const dow = s.weekdays.has(wall.getUTCDay());
  return s.dayStar || s.weekdayStar ? dom && dow : dom || dow;
}

/**
 * The first scheduled time strictly after `after` (ms since the epoch), or undefined when none comes
 * within five years (a schedule such as `0 0 30 2 *`).
 */
export function nextRun(s: CronSchedule, after: number, zone = 'UTC'): number | undefined {
  // Walk the zone's wall clock (held in a Date's UTC fields), skipping whole months, days and hours
  // that cannot match, then map the wall time back to an instant.
  const wall = new Date(Math.floor((after + zoneOffsetMs(after, zone)) / 60_000) * 60_000 + 60_000);
  const limit = wall.getTime() + 5 * 366 * 86_400_000;
  while (wall.getTime() < limit) {
    if (!s.months.has(wall.getUTCMonth() + 1)) {
      wall.setUTCMonth(wall.getUTCMonth() + 1, 1);
      wall.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(s, wall)) {
      wall.setUTCDate(wall.getUTCDate() + 1);
      wall.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(wall.getUTCHours())) {
      wall.setUTCHours(wall.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(wall.getUTCMinutes())) {
      wall.setUTCMinutes(wall.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    const guess = wall.getTime() - zoneOffsetMs(wall.getTime(), zone);
    const instant = wall.getTime() - zoneOffsetMs(guess, zone);
    // A wall time skipped by a daylight-saving change does not happen that day.
    if (instant > after && instant + zoneOffsetMs(instant, zone) === wall.getTime()) return instant;
    wall.setUTCMinutes(wall.getUTCMinutes() + 1, 0, 0);
  }
  return undefined;
}
