/**
 * Output helpers matching the docker CLI: Go tabwriter alignment (minwidth 10, padding 3, as
 * docker's formatter configures it), `--format` with the `table` directive, and human durations.
 */
import { renderTemplate } from './template.js';

/** Align tab-separated lines like Go's tabwriter.NewWriter(w, 10, 1, 3, ' ', 0). */
export function tabwrite(lines: string[], minWidth = 10, padding = 3): string {
  const rows = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((cell, i) => {
      if (i === r.length - 1) return; // the last cell is not a column
      widths[i] = Math.max(widths[i] ?? 0, Math.max(minWidth, [...cell].length + padding));
    });
  }
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length))).join(''))
    .join('\n');
}

/**
 * Render rows with a docker-style format: `table ...` prints a header (from `headers`, keyed by field
 * name) and aligns columns; anything else is a plain template per row.
 */
export function renderRows(format: string, rows: object[], headers: Record<string, string>): string {
  const isTable = /^table(\s|$)/.test(format);
  const tpl = isTable ? format.replace(/^table\s?/, '') : format;
  const expanded = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  if (!isTable) return rows.map((r) => renderTemplate(expanded, r)).join('\n') + (rows.length ? '\n' : '');
  const headerRow = renderTemplate(
    expanded,
    new Proxy({}, { get: (_t, k) => (typeof k === 'string' ? (headers[k] ?? k.toUpperCase()) : undefined), has: () => true }),
  );
  const lines = [headerRow, ...rows.map((r) => renderTemplate(expanded, r))];
  return tabwrite(lines.flatMap((l) => l.split('\n'))) + '\n';
}

/** Docker's units.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3600000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3600000 / 24 / 365)} years`;
}

export function since(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}
