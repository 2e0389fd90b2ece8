/**
 * Go text/template, as the docker CLI's `--format` and `inspect -f` use it: actions with trim markers,
 * pipelines, variables, if/else if/else, range (with else and $i, $e), with, comments, parenthesised
 * pipelines, field chains on maps and objects, and the functions of text/template plus Docker's
 * (json, join, split, title, lower, upper, pad, truncate, println). No npm package does this well, so
 * it is written once here for the whole CLI.
 */

export type TemplateFunc = (...args: unknown[]) => unknown;

// ---------- lexer ----------

type Tok =
  | { t: 'text'; v: string }
  | { t: 'field'; v: string[] } // .A.B (empty array for ".")
  | { t: 'var'; v: string; fields: string[] } // $x.A
  | { t: 'ident'; v: string }
  | { t: 'string'; v: string }
  | { t: 'number'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'nil' }
  | { t: 'pipe' }
  | { t: 'lparen' }
  | { t: 'rparen'; fields: string[] }
  | { t: 'declare' } // :=
  | { t: 'assign' } // =
  | { t: 'comma' }
  | { t: 'open' }
  | { t: 'close' };

export class TemplateError extends Error {}

function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      toks.push({ t: 'text', v: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let j = open + 2;
    if (src[j] === '-' && /\s/.test(src[j + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      j += 1;
    }
    if (text) toks.push({ t: 'text', v: text });
    // Comment.
    const afterWs = src.slice(j).match(/^\s*/)![0].length;
    if (src.startsWith('/*', j + afterWs)) {
      const end = src.indexOf('*/', j + afterWs);
      if (end < 0) throw new TemplateError('unclosed comment');
      let k = end + 2;
      k += src.slice(k).match(/^\s*/)![0].length;
      let trimRight = false;
      if (src[k] === '-') {
        trimRight = true;
        k++;
      }
      if (!src.startsWith('}}', k)) throw new TemplateError('comment ends before closing delimiter');
      i = k + 2;
      if (trimRight) i += src.slice(i).match(/^\s*/)![0].length;
      continue;
    }
    toks.push({ t: 'open' });
    for (;;) {
      while (j < src.length && /[ \t\r\n]/.test(src[j]!)) j++;
      if (j >= src.length) throw new TemplateError('unclosed action');
      if (src[j] === '-' && src.startsWith('}}', j + 1) && /\s/.test(src[j - 1] ?? '')) {
        toks.push({ t: 'close' });
        j += 3;
        j += src.slice(j).match(/^\s*/)![0].length;
        break;
      }
      if (src.startsWith('}}', j)) {
        toks.push({ t: 'close' });
        j += 2;
        break;
      }
      const c = src[j]!;
      if (c === '|') {
        toks.push({ t: 'pipe' });
        j++;
      } else if (c === '(') {
        toks.push({ t: 'lparen' });
        j++;
      } else if (c === ')') {
        j++;
        const fields: string[] = [];
        while (src[j] === '.' && /[A-Za-z_]/.test(src[j + 1] ?? '')) {
          const m = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(src.slice(j))!;
          fields.push(m[1]!);
          j += m[0].length;
        }
        toks.push({ t: 'rparen', fields });
      } else if (c === ',') {
        toks.push({ t: 'comma' });
        j++;
      } else if (src.startsWith(':=', j)) {
        toks.push({ t: 'declare' });
        j += 2;
      } else if (c === '=') {
        toks.push({ t: 'assign' });
        j++;
      } else if (c === '"') {
        let k = j + 1;
        let s = '';
        while (k < src.length && src[k] !== '"') {
          if (src[k] === '\\') {
            const n = src[k + 1];
            s +=
              n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n === '\\' ? '\\' : n === '"' ? '"' : (n ?? '');
            k += 2;
          } else s += src[k++];
        }
        if (src[k] !== '"') throw new TemplateError('unterminated quoted string');
        toks.push({ t: 'string', v: s });
        j = k + 1;
      } else if (c === '`') {
        const end = src.indexOf('`', j + 1);
        if (end < 0) throw new TemplateError('unterminated raw quoted string');
        toks.push({ t: 'string', v: src.slice(j + 1, end) });
        j = end + 1;
      } else if (c === "'") {
        const m = /^'(\\.|[^'])'/.exec(src.slice(j));
        if (!m) throw new TemplateError('bad character constant');
        toks.push({ t: 'number', v: (m[1]!.length === 2 ? m[1]![1]! : m[1]!).charCodeAt(0) });
        j += m[0].length;
      } else if (c === '.' || c === '$') {
        const m = /^(\$[A-Za-z0-9_]*|)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\.?)/.exec(src.slice(j))!;
        const fields = m[2] ? m[2].slice(1).split('.') : [];
        if (m[1]) toks.push({ t: 'var', v: m[1], fields });
        else toks.push({ t: 'field', v: fields });
        j += m[0].length;
        if (!m[1] && !m[2]) j += 0;
      } else if (/[-+0-9]/.test(c)) {
        const m = /^[-+]?(0x[0-9a-fA-F]+|\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(src.slice(j));
        if (!m) throw new TemplateError(`bad number syntax at ${src.slice(j, j + 10)}`);
        toks.push({ t: 'number', v: Number(m[0]) });
        j += m[0].length;
      } else if (/[A-Za-z_]/.test(c)) {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(j))!;
        const w = m[0];
        if (w === 'true' || w === 'false') toks.push({ t: 'bool', v: w === 'true' });
        else if (w === 'nil') toks.push({ t: 'nil' });
        else toks.push({ t: 'ident', v: w });
        j += w.length;
      } else {
        throw new TemplateError(`unexpected ${JSON.stringify(c)} in command`);
      }
    }
    i = j;
  }
  return toks;
}

// ---------- parser ----------

type Arg =
  | { k: 'field'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'lit'; v: unknown }
  | { k: 'ident'; name: string }
  | { k: 'sub'; pipe: Pipeline; path: string[] };

interface Command {
  args: Arg[];
}

interface Pipeline {
  decl: string[];
  assign: boolean;
  cmds: Command[];
}

type Node =
  | { n: 'text'; v: string }
  | { n: 'action'; pipe: Pipeline }
  | { n: 'if'; pipe: Pipeline; then: Node[]; else?: Node[] }
  | { n: 'with'; pipe: Pipeline; then: Node[]; else?: Node[] }
  | { n: 'range'; pipe: Pipeline; then: Node[]; else?: Node[] }
  | { n: 'break' }
  | { n: 'continue' };

class Parser {
  pos = 0;
  constructor(private readonly toks: Tok[]) {}

  peek(o = 0): Tok | undefined {
    return this.toks[this.pos + o];
  }

  next(): Tok {
    const t = this.toks[this.pos++];
    if (!t) throw new TemplateError('unexpected end of template');
    return t;
  }

  parseList(stops: string[]): { nodes: Node[]; stop?: string } {
    const nodes: Node[] = [];
    while (this.pos < this.toks.length) {
      const t = this.next();
      if (t.t === 'text') {
        nodes.push({ n: 'text', v: t.v });
        continue;
      }
      if (t.t !== 'open') throw new TemplateError('unexpected token');
      const kw = this.peek();
      if (kw?.t === 'ident') {
        switch (kw.v) {
          case 'end':
          case 'else':
            if (!stops.includes(kw.v)) throw new TemplateError(`unexpected {{${kw.v}}}`);
            this.pos++;
            return { nodes, stop: kw.v };
          case 'if':
          case 'with':
          case 'range': {
            this.pos++;
            nodes.push(this.parseControl(kw.v));
            continue;
          }
          case 'break':
          case 'continue':
            this.pos++;
            this.expect('close');
            nodes.push({ n: kw.v });
            continue;
          case 'define':
          case 'template':
          case 'block':
            throw new TemplateError(`{{${kw.v}}} is not supported`);
        }
      }
      const pipe = this.parsePipeline('close');
      nodes.push({ n: 'action', pipe });
    }
    if (stops.length) throw new TemplateError('unexpected EOF: missing {{end}}');
    return { nodes };
  }

  expect(t: Tok['t']): Tok {
    const x = this.next();
    if (x.t !== t) throw new TemplateError(`expected ${t}, found ${x.t}`);
    return x;
  }

  parseControl(kind: 'if' | 'with' | 'range'): Node {
    const pipe = this.parsePipeline('close');
    const body = this.parseList(['end', 'else']);
    let elseNodes: Node[] | undefined;
    if (body.stop === 'else') {
      const nx = this.peek();
      if (nx?.t === 'ident' && (nx.v === 'if' || nx.v === 'with') && kind !== 'range') {
        // {{else if ...}} chains: the nested control consumes the shared {{end}}.
        this.pos++;
        elseNodes = [this.parseControl(nx.v as 'if' | 'with')];
      } else {
        this.expect('close');
        const e = this.parseList(['end']);
        elseNodes = e.nodes;
        this.expect('close');
      }
    }
    if (body.stop === 'end') this.expect('close');
    return { n: kind, pipe, then: body.nodes, else: elseNodes };
  }

  parsePipeline(end: 'close' | 'rparen'): Pipeline {
    const pipe: Pipeline = { decl: [], assign: false, cmds: [] };
    // Variable declarations: $x := or $i, $e :=
    const save = this.pos;
    const vars: string[] = [];
    while (this.peek()?.t === 'var' && (this.peek() as { fields: string[] }).fields.length === 0) {
      vars.push((this.next() as { v: string }).v);
      if (this.peek()?.t === 'comma') {
        this.pos++;
        continue;
      }
      break;
    }
    const nt = this.peek();
    if (vars.length && (nt?.t === 'declare' || nt?.t === 'assign')) {
      this.pos++;
      pipe.decl = vars;
      pipe.assign = nt.t === 'assign';
    } else this.pos = save;
    let cmd: Command = { args: [] };
    for (;;) {
      const t = this.next();
      if (t.t === end || (end === 'close' && t.t === 'close')) {
        if (end === 'rparen') this.pos--;
        break;
      }
      if (t.t === 'rparen' && end === 'rparen') {
        this.pos--;
        break;
      }
      switch (t.t) {
        case 'pipe':
          if (!cmd.args.length) throw new TemplateError('missing command before |');
          pipe.cmds.push(cmd);
          cmd = { args: [] };
          break;
        case 'field':
          cmd.args.push({ k: 'field', path: t.v });
          break;
        case 'var':
          cmd.args.push({ k: 'var', name: t.v, path: t.fields });
          break;
        case 'ident':
          cmd.args.push({ k: 'ident', name: t.v });
          break;
        case 'string':
        case 'number':
        case 'bool':
          cmd.args.push({ k: 'lit', v: t.v });
          break;
        case 'nil':
          cmd.args.push({ k: 'lit', v: null });
          break;
        case 'lparen': {
          const sub = this.parsePipeline('rparen');
          const rp = this.expect('rparen') as { fields: string[] };
          cmd.args.push({ k: 'sub', pipe: sub, path: rp.fields });
          break;
        }
        default:
          throw new TemplateError(`unexpected ${t.t} in pipeline`);
      }
    }
    if (cmd.args.length) pipe.cmds.push(cmd);
    if (!pipe.cmds.length) throw new TemplateError('missing value for command');
    return pipe;
  }
}

// ---------- values ----------

const NO_VALUE = Symbol('no value');

function isTruthy(v: unknown): boolean {
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

function field(v: unknown, name: string): unknown {
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

// ---------- executor ----------

class Break {}
class Continue {}

interface Scope {
  vars: Array<Map<string, unknown>>;
}

export class Template {
  private readonly nodes: Node[];

  constructor(
    src: string,
    private readonly funcs: Record<string, TemplateFunc> = baseFuncs,
  ) {
    this.nodes = new Parser(lex(src)).parseList([]).nodes;
  }

  execute(data: unknown): string {
    const scope: Scope = { vars: [new Map([['$', data]])] };
    const out: string[] = [];
    this.walk(this.nodes, data, scope, out);
    return out.join('');
  }

  private lookupVar(scope: Scope, name: string): unknown {
    for (let i = scope.vars.length - 1; i >= 0; i--) if (scope.vars[i]!.has(name)) return scope.vars[i]!.get(name);
    throw new TemplateError(`undefined variable: ${name}`);
  }

  private walk(nodes: Node[], dot: unknown, scope: Scope, out: string[]): void {
    for (const node of nodes) {
      switch (node.n) {
        case 'text':
          out.push(node.v);
          break;
        case 'action': {
          const v = this.pipeline(node.pipe, dot, scope);
          if (node.pipe.decl.length === 0) out.push(formatValue(v));
          break;
        }
        case 'if': {
          scope.vars.push(new Map());
          const v = this.pipeline(node.pipe, dot, scope);
          if (isTruthy(v)) this.walk(node.then, dot, scope, out);
          else if (node.else) this.walk(node.else, dot, scope, out);
          scope.vars.pop();
          break;
        }
        case 'with': {
          scope.vars.push(new Map());
          const v = this.pipeline(node.pipe, dot, scope);
          if (isTruthy(v)) this.walk(node.then, v, scope, out);
          else if (node.else) this.walk(node.else, dot, scope, out);
          scope.vars.pop();
          break;
        }
        case 'range': {
          const decl = node.pipe.decl;
          const v = this.pipeline({ ...node.pipe, decl: [] }, dot, scope);
          let items: Array<[unknown, unknown]> = [];
          if (Array.isArray(v)) items = v.map((x, i) => [i, x]);
          else if (typeof v === 'number') items = Array.from({ length: v }, (_x, i) => [i, i]);
          else if (v instanceof Map) items = [...v.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1));
          else if (v && typeof v === 'object')
            items = Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
          else if (v !== null && v !== undefined && v !== NO_VALUE)
            throw new TemplateError(`range can't iterate over ${formatValue(v)}`);
          if (items.length === 0) {
            if (node.else) this.walk(node.else, dot, scope, out);
            break;
          }
          for (const [k, x] of items) {
            const frame = new Map<string, unknown>();
            if (decl.length === 1) frame.set(decl[0]!, x);
            else if (decl.length === 2) {
              frame.set(decl[0]!, k);
              frame.set(decl[1]!, x);
            }
            scope.vars.push(frame);
            try {
              this.walk(node.then, x, scope, out);
            } catch (e) {
              if (e instanceof Break) {
                scope.vars.pop();
                break;
              }
              if (!(e instanceof Continue)) throw e;
            }
            scope.vars.pop();
          }
          break;
        }
        case 'break':
          throw new Break();
        case 'continue':
          throw new Continue();
      }
    }
  }

  private pipeline(p: Pipeline, dot: unknown, scope: Scope): unknown {
    let value: unknown = NO_VALUE;
    let first = true;
    for (const cmd of p.cmds) {
      value = this.command(cmd, dot, scope, first ? undefined : { v: value });
      first = false;
    }
    if (p.decl.length) {
      const name = p.decl[p.decl.length - 1]!;
      if (p.assign) {
        for (let i = scope.vars.length - 1; i >= 0; i--) {
          if (scope.vars[i]!.has(name)) {
            scope.vars[i]!.set(name, value);
            return value;
          }
        }
        throw new TemplateError(`undefined variable: ${name}`);
      }
      scope.vars[scope.vars.length - 1]!.set(name, value);
    }
    return value;
  }

  private arg(a: Arg, dot: unknown, scope: Scope): unknown {
    switch (a.k) {
      case 'lit':
        return a.v;
      case 'field':
        return a.path.reduce<unknown>((v, f) => field(v, f), dot);
      case 'var':
        return a.path.reduce<unknown>((v, f) => field(v, f), this.lookupVar(scope, a.name));
      case 'sub':
        return a.path.reduce<unknown>((v, f) => field(v, f), this.pipeline(a.pipe, dot, scope));
      case 'ident': {
        const fn = this.funcs[a.name];
        if (!fn) throw new TemplateError(`function "${a.name}" not defined`);
        return fn();
      }
    }
  }

  private command(cmd: Command, dot: unknown, scope: Scope, piped: { v: unknown } | undefined): unknown {
    const [head, ...rest] = cmd.args;
    if (head!.k === 'ident') {
      const name = head!.name;
      const fn = this.funcs[name];
      if (!fn) throw new TemplateError(`function "${name}" not defined`);
      if (name === 'and' || name === 'or') {
        const args = [...rest.map((r) => () => this.arg(r, dot, scope)), ...(piped ? [() => piped.v] : [])];
        if (!args.length) throw new TemplateError(`wrong number of args for ${name}`);
        let v: unknown;
        for (const get of args) {
          v = get();
          if (name === 'and' ? !isTruthy(v) : isTruthy(v)) return v;
        }
        return v;
      }
      const args = rest.map((r) => this.arg(r, dot, scope));
      if (piped) args.push(piped.v);
      try {
        return fn(...args);
      } catch (e) {
        if (e instanceof TemplateError) throw e;
        throw new TemplateError(`error calling ${name}: ${(e as Error).message}`);
      }
    }
    if (rest.length || (piped && head!.k !== 'field' && head!.k !== 'var')) {
      throw new TemplateError(`can't give argument to non-function ${JSON.stringify(head)}`);
    }
    if (piped) throw new TemplateError("can't give argument to non-function");
    return this.arg(head!, dot, scope);
  }
}

/** Parse and run a template once. */
export function renderTemplate(src: string, data: unknown, funcs?: Record<string, TemplateFunc>): string {
  return new Template(src, funcs).execute(data);
}
