/** The lexer and parser of Go text/template (see `template.ts`): a template's text to a tree of nodes. */
import { TemplateError } from './template-values.js';

// ---------- lexer ----------

export type Tok =
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

export function lex(src: string): Tok[] {
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

export type Arg =
  | { k: 'field'; path: string[] }
  | { k: 'var'; name: string; path: string[] }
  | { k: 'lit'; v: unknown }
  | { k: 'ident'; name: string }
  | { k: 'sub'; pipe: Pipeline; path: string[] };

export interface Command {
  args: Arg[];
}

export interface Pipeline {
  decl: string[];
  assign: boolean;
  cmds: Command[];
}

export type Node =
  | { n: 'text'; v: string }
  | { n: 'action'; pipe: Pipeline }
  | { n: 'if'; pipe: Pipeline; then: Node[]; else?: Node[] }
  | { n: 'with'; pipe: Pipeline; then: Node[]; else?: Node[] }
  | { n: 'range'; pipe: Pipeline; then: Node[]; else?: Node[] }
  | { n: 'break' }
  | { n: 'continue' };

export class Parser {
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
