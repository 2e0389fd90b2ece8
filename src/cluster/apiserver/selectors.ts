/** Label selectors (equality- and set-based) and field selectors, as the Kubernetes API parses them. */
export type Selector = (values: Record<string, string>) => boolean;

/** Split on commas outside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of text) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

export function parseLabelSelector(text: string): Selector {
  const checks: Selector[] = [];
  for (const term of terms(text)) {
    let m: RegExpExecArray | null;
    if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term))) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      checks.push(
        op === 'in' ? (l) => key in l && values.includes(l[key]!) : (l) => !(key in l) || !values.includes(l[key]!),
      );
    } else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(term))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      checks.push(op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value);
    } else if ((m = /^!([\w./-]+)$/.exec(term))) {
      const key = m[1]!;
      checks.push((l) => !(key in l));
    } else if ((m = /^([\w./-]+)$/.exec(term))) {
      const key = m[1]!;
      checks.push((l) => key in l);
    } else throw new Error(`unable to parse requirement: found '${term}', expected: identifier`);
  }
  return (l) => checks.every((c) => c(l));
}

export function parseFieldSelector(text: string): Selector {
  const checks: Selector[] = [];
  for (const term of terms(text)) {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new Error(`invalid field selector: '${term}'`);
    const [, key, op, value] = m as unknown as [string, string, string, string];
    checks.push(op === '!=' ? (f) => f[key] !== value : (f) => f[key] === value);
  }
  return (f) => checks.every((c) => c(f));
}
