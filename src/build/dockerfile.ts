/**
 * Dockerfiles: `dockerfile-ast` splits the text into instructions (escape directive, line
 * continuations, comments, heredocs); this module turns them into stages, checks them as Docker's
 * classic builder does (errors name the line), and implements Docker's word processing: variable
 * substitution with `${VAR:-default}` / `${VAR:+alt}`, quotes and escapes.
 */
import { DockerfileParser } from 'dockerfile-ast';
import { invalid } from '../common/errors.js';

export interface Instruction {
  keyword: string;
  /** 1-based line of the instruction, for messages. */
  line: number;
  /** `--name=value` flags before the arguments. */
  flags: Record<string, string>;
  /** The arguments after the flags, continuations joined (heredoc bodies excluded). */
  args: string;
  /** The exec (JSON array) form, when the arguments are one. */
  json?: string[];
  /** Heredocs (`<<EOF ... EOF`) in the order they appear. */
  heredocs: Array<{ name: string; body: string }>;
  /** The instruction as written, continuations joined (for `Step N/M :` lines). */
  text: string;
}

export interface Stage {
  index: number;
  /** `AS name`, lowercased. */
  name?: string;
  /** The image reference as written (variables not yet expanded), or `scratch`. */
  base: string;
  platform?: string;
  line: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARG instructions before the first FROM. */
  globalArgs: Instruction[];
  stages: Stage[];
  escape: string;
}

const KNOWN = new Set([
  'FROM',
  'RUN',
  'CMD',
  'LABEL',
  'MAINTAINER',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'ENTRYPOINT',
  'VOLUME',
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
]);
const NEEDS_ARGS = new Set([...KNOWN].filter((k) => k !== 'HEALTHCHECK'));

function parseError(line: number, msg: string): Error {
  return invalid(`Dockerfile parse error line ${line}: ${msg}`);
}

/** Split leading `--flag=value` words off an argument string. */
function takeFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args.trimStart();
  for (;;) {
    const m = /^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
    if (!m) break;
    flags[m[1]!] = m[2] ?? '';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest: rest.trim() };
}

/** The heredocs of an instruction's raw text: `<<[-]NAME` markers on its first line, bodies after. */
function splitHeredocs(raw: string): { head: string; heredocs: Array<{ name: string; body: string }> } {
  const lines = raw.split('\n');
  const head = lines[0]!;
  const names = [...head.matchAll(/<<-?["']?([A-Za-z_][A-Za-z0-9_]*)["']?/g)].map((m) => m[1]!);
  if (!names.length || lines.length === 1) return { head: raw, heredocs: [] };
  const heredocs: Array<{ name: string; body: string }> = [];
  let i = 1;
  for (const name of names) {
    const body: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== name) body.push(lines[i++]!);
    i++;
    heredocs.push({ name, body: body.join('\n') + '\n' });
  }
  return { head, heredocs };
}

export function parseDockerfile(text: string): Dockerfile {
  const doc = DockerfileParser.parse(text);
  const escape = doc.getEscapeCharacter?.() ?? '\\';
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const node of doc.getInstructions()) {
    const keyword = node.getKeyword().toUpperCase();
    const line = node.getRange().start.line + 1;
    if (!KNOWN.has(keyword)) throw parseError(line, `unknown instruction: ${node.getKeyword()}`);
    const content = node.getArgumentsContent() ?? '';
    const { head, heredocs } = splitHeredocs(content);
    const { flags, rest } = takeFlags(head);
    // dockerfile-ast keeps the flags of instructions that take them apart from the arguments.
    const withFlags = node as unknown as { getFlags?: () => Array<{ getName(): string; getValue(): string | null }> };
    for (const f of withFlags.getFlags?.() ?? []) flags[f.getName()] = f.getValue() ?? '';
    const shown = [...Object.entries(flags).map(([k, v]) => `--${k}=${v}`), head.trim()].join(' ');
    if (NEEDS_ARGS.has(keyword) && !rest && !heredocs.length)
      throw parseError(line, `${keyword} requires at least one argument`);
    let json: string[] | undefined;
    if (rest.startsWith('[')) {
      try {
        const v = JSON.parse(rest) as unknown;
        if (Array.isArray(v) && v.every((x) => typeof x === 'string')) json = v as string[];
      } catch {
        // Not JSON: the shell form, as Docker falls back to.
      }
    }
    const ins: Instruction = { keyword, line, flags, args: rest, json, heredocs, text: `${keyword} ${shown}`.trim() };
    if (keyword === 'FROM') {
      const words = rest.split(/\s+/).filter(Boolean);
      if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === 'as'))
        throw parseError(line, 'FROM requires either one or three arguments');
      const name = words[2]?.toLowerCase();
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name))
        throw parseError(
          line,
          `invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`,
        );
      if (name && stages.some((s) => s.name === name)) throw parseError(line, `duplicate name ${name}`);
      stages.push({ index: stages.length, name, base: words[0]!, platform: flags.platform, line, instructions: [] });
      continue;
    }
    if (!stages.length) {
      if (keyword !== 'ARG') throw parseError(line, `${keyword} before FROM: no build stage in current context`);
      globalArgs.push(ins);
      continue;
    }
    stages.at(-1)!.instructions.push(ins);
  }
  if (!stages.length)
    throw invalid(
      doc.getInstructions().length ? 'Dockerfile parse error: no FROM instruction' : 'the Dockerfile cannot be empty',
    );
  return { globalArgs, stages, escape };
}

/**
 * Docker's word processing for one word list: quotes group, `escape` escapes, `$VAR`, `${VAR}`,
 * `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}` substitute; single quotes keep
 * everything literal. With `split`, unquoted whitespace separates words.
 */
export function processWords(input: string, env: Record<string, string>, escape = '\\', split = true): string[] {
  const words: string[] = [];
  let cur = '';
  // A word that had quotes is kept even when empty; an unquoted empty expansion vanishes, as in sh.
  let quoted = false;
  let i = 0;
  const flush = (): void => {
    if (cur !== '' || quoted) words.push(cur);
    cur = '';
    quoted = false;
  };
  const variable = (): string => {
    // At a '$'.
    i++;
    if (input[i] === '{') {
      const end = matchingBrace(input, i);
      const body = input.slice(i + 1, end);
      i = end + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])(.*))?$/s.exec(body);
      if (!m) throw invalid(`failed to process "${input}": bad substitution`);
      const [, name, op, word = ''] = m;
      const set = name! in env;
      const nonEmpty = set && env[name!] !== '';
      if (op === ':-') return nonEmpty ? env[name!]! : processWords(word, env, escape, false).join('');
      if (op === '-') return set ? env[name!]! : processWords(word, env, escape, false).join('');
      if (op === ':+') return nonEmpty ? processWords(word, env, escape, false).join('') : '';
      if (op === '+') return set ? processWords(word, env, escape, false).join('') : '';
      return env[name!] ?? '';
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(input.slice(i));
    if (!m) return '$';
    i += m[0].length;
    return env[m[0]] ?? '';
  };
  while (i < input.length) {
    const c = input[i]!;
    if (split && /\s/.test(c)) {
      flush();
      i++;
      continue;
    }
    if (c === escape && i + 1 < input.length) {
      cur += input[i + 1];
      i += 2;
    } else if (c === "'") {
      quoted = true;
      const end = input.indexOf("'", i + 1);
      if (end < 0)
        throw invalid(
          `failed to process "${input}": unexpected end of statement while looking for matching single-quote`,
        );
      cur += input.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      quoted = true;
      i++;
      while (i < input.length && input[i] !== '"') {
        if (
          input[i] === escape &&
          i + 1 < input.length &&
          (input[i + 1] === '"' || input[i + 1] === '$' || input[i + 1] === escape)
        ) {
          cur += input[i + 1];
          i += 2;
        } else if (input[i] === '$') cur += variable();
        else cur += input[i++];
      }
      if (i >= input.length)
        throw invalid(
          `failed to process "${input}": unexpected end of statement while looking for matching double-quote`,
        );
      i++;
    } else if (c === '$') cur += variable();
    else {
      cur += c;
      i++;
    }
  }
  flush();
  return words;
}

function matchingBrace(s: string, open: number): number {
  let depth = 0;
  for (let j = open; j < s.length; j++) {
    if (s[j] === '{') depth++;
    else if (s[j] === '}' && --depth === 0) return j;
  }
  throw invalid(`failed to process "${s}": missing '}'`);
}

/** Expand one value without splitting (FROM, WORKDIR, USER, ...). */
export function expandWord(input: string, env: Record<string, string>, escape = '\\'): string {
  return processWords(input, env, escape, false).join('');
}

/**
 * `KEY=value ...` pairs of ENV, LABEL and ARG (values expanded, quotes removed), or the legacy
 * `KEY value` form with one pair.
 */
export function keyValues(
  args: string,
  env: Record<string, string>,
  escape: string,
  keyword: string,
  line: number,
): Array<[string, string | undefined]> {
  const words = processWords(args, env, escape, true);
  if (!words.length) throw parseError(line, `${keyword} requires at least one argument`);
  if (!words[0]!.includes('=') && keyword !== 'ARG') {
    // Legacy `ENV KEY value with spaces`.
    const [key, ...value] = args.trim().split(/\s+/);
    if (!value.length) throw parseError(line, `${keyword} names can not be blank`);
    return [[key!, expandWord(args.trim().slice(key!.length).trim(), env, escape)]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq === 0) throw parseError(line, `${keyword} names can not be blank`);
    if (eq < 0) {
      if (keyword !== 'ARG') throw parseError(line, `${keyword} must have two arguments`);
      return [w, undefined];
    }
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}
