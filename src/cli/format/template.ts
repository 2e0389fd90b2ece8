/**
 * Go text/template, as the docker CLI's `--format` and `inspect -f` use it: actions with trim markers,
 * pipelines, variables, if/else if/else, range (with else and $i, $e), with, comments, parenthesised
 * pipelines, field chains on maps and objects, and the functions of text/template plus Docker's
 * (json, join, split, title, lower, upper, pad, truncate, println). No npm package does this well, so
 * it is written once here for the whole CLI.
 */
import { Parser, lex, type Arg, type Command, type Node, type Pipeline } from './template-syntax.js';
import {
  baseFuncs,
  field,
  formatValue,
  isTruthy,
  NO_VALUE,
  TemplateError,
  type TemplateFunc,
} from './template-values.js';

export { TemplateError } from './template-values.js';

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
