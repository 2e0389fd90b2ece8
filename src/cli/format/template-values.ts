/** Go text/template's values (truthiness, printing, fields) and its functions with Docker's (see `template.ts`). */

export type TemplateFunc = (...args: unknown[]) => unknown;

export class TemplateError extends Error {}

export const NO_VALUE = Symbol('no value');

export function isTruthy(v: unknown): boolean {
  if (v === null || v === undefined || v === NO_VALUE) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Go's %v formatting of decoded JSON values. */
export function formatValue(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : formatFloat(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatInner).join(' ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, x]) => `${k}:${formatInner(x)}`).join(' ')}]`;
  }
  return String(v);
}

function formatInner(v: unknown): string {
  return v === null || v === undefined ? '<nil>' : formatValue(v);
}

function formatFloat(v: number): string {
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e21)) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(v);
}

export function field(v: unknown, name: string): unknown {
  if (v === null || v === undefined || v === NO_VALUE)
    throw new TemplateError(`nil pointer evaluating interface {}.${name}`);
  if (v instanceof Map) return v.has(name) ? v.get(name) : NO_VALUE;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (name in o) {
      const x = o[name];
      return typeof x === 'function' ? (x as () => unknown).call(o) : x;
    }
    return NO_VALUE;
  }
  throw new TemplateError(`can't evaluate field ${name} in type ${typeof v}`);
}

// ---------- functions ----------

function goPrintf(format: string, ...args: unknown[]): string {
  let ai = 0;
  return format.replace(
    /%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([vsdqxXftTbeEgoc%])/g,
    (_m, flags: string, width: string | undefined, prec: string | undefined, verb: string) => {
      if (verb === '%') return '%';
      if (ai >= args.length) return `%!${verb}(MISSING)`;
      const a = args[ai++];
      let s: string;
      switch (verb) {
        case 'd':
          s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${typeof a}=${formatValue(a)})`;
          break;
        case 'f':
          s =
            typeof a === 'number'
              ? a.toFixed(prec !== undefined ? Number(prec) : 6)
              : `%!f(${typeof a}=${formatValue(a)})`;
          break;
        case 'e':
          s = typeof a === 'number' ? a.toExponential(prec !== undefined ? Number(prec) : 6) : formatValue(a);
          break;
        case 'g':
          s = typeof a === 'number' ? String(a) : formatValue(a);
          break;
        case 'q':
          s = JSON.stringify(typeof a === 'string' ? a : formatValue(a));
          break;
        case 'x':
        case 'X':
          s = typeof a === 'number' ? a.toString(16) : Buffer.from(formatValue(a)).toString('hex');
          if (verb === 'X') s = s.toUpperCase();
          break;
        case 't':
          s = String(!!a);
          break;
        case 'T':
          s =
            a === null
              ? '<nil>'
              : Array.isArray(a)
                ? '[]interface {}'
                : typeof a === 'object'
                  ? 'map[string]interface {}'
                  : typeof a === 'number'
                    ? 'float64'
                    : typeof a;
          break;
        case 'c':
          s = typeof a === 'number' ? String.fromCodePoint(a) : formatValue(a);
          break;
        default:
          s = formatValue(a);
          if (prec !== undefined && (verb === 's' || verb === 'v')) s = s.slice(0, Number(prec));
      }
      if (width) {
        const w = Number(width);
        if (flags.includes('-')) s = s.padEnd(w);
        else s = s.padStart(w, flags.includes('0') && /^[-\d.]/.test(s) ? '0' : ' ');
      }
      return s;
    },
  );
}

function goJson(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return 'null';
  return JSON.stringify(v);
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError('incompatible types for comparison');
}

function eq(a: unknown, ...bs: unknown[]): boolean {
  const norm = (x: unknown): unknown => (x === NO_VALUE ? undefined : x);
  if (bs.length === 0) throw new TemplateError('missing argument for comparison');
  return bs.some((b) => {
    const x = norm(a);
    const y = norm(b);
    if (x === null || x === undefined || y === null || y === undefined) return (x ?? null) === (y ?? null);
    if (typeof x === 'object' || typeof y === 'object') throw new TemplateError('incompatible types for comparison');
    return x === y;
  });
}

export const baseFuncs: Record<string, TemplateFunc> = {
  and: () => undefined, // handled lazily in the executor
  or: () => undefined,
  not: (a) => !isTruthy(a),
  len: (a) => {
    if (typeof a === 'string' || Array.isArray(a)) return a.length;
    if (a instanceof Map) return a.size;
    if (a && typeof a === 'object') return Object.keys(a).length;
    throw new TemplateError(`len of type ${typeof a}`);
  },
  index: (a, ...keys) => {
    let v = a;
    for (const k of keys) {
      if (v === null || v === undefined || v === NO_VALUE) throw new TemplateError('index of untyped nil');
      if (Array.isArray(v)) {
        const i = Number(k);
        if (!Number.isInteger(i) || i < 0 || i >= v.length)
          throw new TemplateError(`error calling index: index out of range: ${formatValue(k)}`);
        v = v[i];
      } else if (typeof v === 'string') v = v.charCodeAt(Number(k));
      else if (typeof v === 'object') {
        const o = v as Record<string, unknown>;
        v = String(k) in o ? o[String(k)] : NO_VALUE;
      }
    }
    return v;
  },
  slice: (a, ...idx) => {
    if (typeof a !== 'string' && !Array.isArray(a)) throw new TemplateError("can't slice item");
    const [i = 0, j] = idx.map(Number);
    return a.slice(i, j);
  },
  print: (...a) =>
    a
      .map((x, i) => (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + formatValue(x))
      .join(''),
  println: (...a) => a.map(formatValue).join(' ') + '\n',
  printf: (f, ...a) => goPrintf(String(f), ...a),
  eq,
  ne: (a, b) => !eq(a, b),
  lt: (a, b) => compareValues(a, b) < 0,
  le: (a, b) => compareValues(a, b) <= 0,
  gt: (a, b) => compareValues(a, b) > 0,
  ge: (a, b) => compareValues(a, b) >= 0,
  urlquery: (...a) => encodeURIComponent(a.map(formatValue).join('')),
  html: (...a) =>
    a
      .map(formatValue)
      .join('')
      .replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`),
  js: (...a) => JSON.stringify(a.map(formatValue).join('')).slice(1, -1),
  call: (fn, ...a) => (fn as TemplateFunc)(...a),
  // Docker's additions (cli/templates).
  json: goJson,
  join: (a, sep) => (Array.isArray(a) ? a.map(formatValue).join(String(sep)) : formatValue(a)),
  split: (s, sep) => String(s).split(String(sep)),
  title: (s) => String(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  lower: (s) => String(s).toLowerCase(),
  upper: (s) => String(s).toUpperCase(),
  pad: (s, l, r) => ' '.repeat(Number(l)) + formatValue(s) + ' '.repeat(Number(r)),
  truncate: (s, n) => String(s).slice(0, Number(n)),
};
