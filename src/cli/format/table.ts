/**
 * Output helpers matching the docker CLI: Go tabwriter alignment (minwidth 10, padding 3, as
 * docker's formatter configures it), `--format` with the `table` directive, and human durations.
 */
import { humanDuration } from '../../common/time.js';
import { renderTemplate } from './template.js';

export { humanDuration };

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
    .map((r) =>
      r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length))).join(''),
    )
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
    new Proxy(
      {},
      { get: (_t, k) => (typeof k === 'string' ? (headers[k] ?? k.toUpperCase()) : undefined), has: () => true },
    ),
  );
  const lines = [headerRow, ...rows.map((r) => renderTemplate(expanded, r))];
  return tabwrite(lines.flatMap((l) => l.split('\n'))) + '\n';
}

export function since(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}
