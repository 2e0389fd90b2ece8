/**
 * Request bodies checked as Go's encoding/json decodes them into moby's types, so what Docker refuses
 * is refused here with Docker's words ("invalid JSON: json: cannot unmarshal number into Go struct
 * field CreateRequest.Env of type string") before anything is stored. As in Go: `null` fits any field
 * (it is the zero value), unknown fields are ignored, field names match case-insensitively, integers
 * must be whole and within their type's range, and the first mismatch is the one reported.
 *
 * Checking also shapes the body as Go would hold it, in place: a field named in another case is moved
 * to its own name (`env` is `Env`), a StrSlice given as one string becomes a list of it, a `null` field
 * is left out (Go's zero value, as if absent) and a `null` in a list or map is its element's zero value.
 */
import { invalid } from '../../../common/errors.js';

/** Where in the body a value sits: the innermost struct's Go name and the field path from the top. */
interface At {
  struct?: string;
  fields: string[];
}

export interface GoType {
  /** The name Go prints for the type (`string`, `int64`, `[]string`, `container.HostConfig`). */
  readonly name: string;
  /** The first mismatch in `value`, worded as Go's UnmarshalTypeError; undefined when it fits. */
  check(value: unknown, at: At): string | undefined;
  /** The value as Go holds it, where that differs from the JSON (checked values only). */
  normalize?(value: unknown): unknown;
  /** Go's zero value of the type, for a `null` where no field can be left out (a list's element). */
  zero(): unknown;
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v; // string, number, object
}

function mismatch(value: string, type: string, at: At): string {
  return at.struct
    ? `json: cannot unmarshal ${value} into Go struct field ${at.struct}.${at.fields.join('.')} of type ${type}`
    : `json: cannot unmarshal ${value} into Go value of type ${type}`;
}

function scalar(name: string, kind: 'string' | 'boolean'): GoType {
  return {
    name,
    zero: () => (kind === 'string' ? '' : false),
    check: (v, at) => (v === null || typeof v === kind ? undefined : mismatch(jsonKind(v), name, at)),
  };
}

export const str = scalar('string', 'string');
export const bool = scalar('bool', 'boolean');
/** A string type of its own name (`container.NetworkMode`), decoded as a string. */
export const named = (name: string): GoType => scalar(name, 'string');

function integer(name: string, min: number, max: number): GoType {
  return {
    name,
    zero: () => 0,
    check: (v, at) => {
      if (v === null) return undefined;
      if (typeof v !== 'number') return mismatch(jsonKind(v), name, at);
      return Number.isInteger(v) && v >= min && v <= max ? undefined : mismatch(`number ${v}`, name, at);
    },
  };
}

// int64's bounds are not exact doubles: anything JSON.parse gives beyond ±2^63 is out of range anyway.
export const int64 = integer('int64', -(2 ** 63), 2 ** 63 - 1);
export const int = integer('int', -(2 ** 63), 2 ** 63 - 1);
export const int32 = integer('int32', -(2 ** 31), 2 ** 31 - 1);
export const uint16 = integer('uint16', 0, 2 ** 16 - 1);
export const uint32 = integer('uint32', 0, 2 ** 32 - 1);
export const uint64 = integer('uint64', 0, 2 ** 64 - 1);
export const uint = integer('uint', 0, 2 ** 64 - 1);
export const duration = integer('time.Duration', -(2 ** 63), 2 ** 63 - 1);
export const fileMode = integer('fs.FileMode', 0, 2 ** 32 - 1);
export const float64: GoType = {
  name: 'float64',
  zero: () => 0,
  check: (v, at) => (v === null || typeof v === 'number' ? undefined : mismatch(jsonKind(v), 'float64', at)),
};
/** `interface{}`: anything. */
export const any: GoType = { name: 'interface {}', check: () => undefined, zero: () => null };

/** A checked element of a list or map, as Go holds it. */
function held(of: GoType, item: unknown): unknown {
  if (item === null) return of.zero();
  return of.normalize ? of.normalize(item) : item;
}

export function slice(of: GoType, length?: number): GoType {
  const name = `[${length ?? ''}]${of.name}`;
  return {
    name,
    zero: () => [],
    check: (v, at) => {
      if (v === null) return undefined;
      if (!Array.isArray(v)) return mismatch(jsonKind(v), name, at);
      for (let i = 0; i < v.length; i++) {
        const err = of.check(v[i], at);
        if (err) return err;
        v[i] = held(of, v[i]);
      }
      return undefined;
    },
  };
}

export function map(of: GoType): GoType {
  const name = `map[string]${of.name}`;
  return {
    name,
    zero: () => ({}),
    check: (v, at) => {
      if (v === null) return undefined;
      if (typeof v !== 'object' || Array.isArray(v)) return mismatch(jsonKind(v), name, at);
      const entries = v as Record<string, unknown>;
      for (const [key, item] of Object.entries(entries)) {
        const err = of.check(item, at);
        if (err) return err;
        entries[key] = held(of, item);
      }
      return undefined;
    },
  };
}

/** `struct {}` (the values of sets such as ExposedPorts and Volumes). */
export const empty: GoType = {
  name: 'struct {}',
  zero: () => ({}),
  check: (v, at) =>
    v === null || (typeof v === 'object' && !Array.isArray(v)) ? undefined : mismatch(jsonKind(v), 'struct {}', at),
};

/**
 * moby's StrSlice (Cmd, Entrypoint, Shell, CapAdd): a list of strings, or one string. Its own
 * UnmarshalJSON tries both; the error is that of the string attempt.
 */
export const strSlice: GoType = {
  name: 'strslice.StrSlice',
  zero: () => [],
  check: (v, at) =>
    v === null || typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string'))
      ? undefined
      : mismatch(jsonKind(v), 'string', at),
  normalize: (v) => (typeof v === 'string' ? [v] : v),
};

/**
 * A struct: `fields` by their JSON names; `embedded` structs' fields are promoted into it (as Go's
 * embedding does: `HostConfig` holds `Resources`' fields, errors name `HostConfig`).
 */
export function struct(goName: string, fields: Record<string, GoType>, ...embedded: GoStruct[]): GoStruct {
  const all: Record<string, GoType> = {};
  for (const e of embedded) Object.assign(all, e.fields);
  Object.assign(all, fields);
  const folded = new Map(Object.keys(all).map((k) => [k.toLowerCase(), k]));
  const short = goName.slice(goName.lastIndexOf('.') + 1);
  return {
    name: goName,
    fields: all,
    zero: () => ({}),
    check(v, at) {
      if (v === null) return undefined;
      if (typeof v !== 'object' || Array.isArray(v)) return mismatch(jsonKind(v), goName, at);
      const obj = v as Record<string, unknown>;
      for (const [key, value] of Object.entries(obj)) {
        const field = key in all ? key : folded.get(key.toLowerCase());
        if (!field) continue;
        const type = all[field]!;
        const err = type.check(value, { struct: short, fields: [...at.fields, field] });
        if (err) return err;
        // As Go assigns: the value lands in the field, the last of several spellings winning; null is
        // the zero value, which is what an absent field is.
        if (field !== key) delete obj[key];
        if (value === null) delete obj[field];
        else obj[field] = type.normalize ? type.normalize(value) : value;
      }
      return undefined;
    },
  };
}

export interface GoStruct extends GoType {
  readonly fields: Record<string, GoType>;
}

/** Refuse `body` (already parsed JSON) with Docker's 400 when it does not decode into `type`. */
export function decodeAs(type: GoType, body: unknown): void {
  const err = type.check(body, { fields: [] });
  if (err) throw invalid(`invalid JSON: ${err}`);
}
