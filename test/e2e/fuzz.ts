/**
 * Field-by-field mutation of valid request bodies, for the fuzz tests of the Engine API and the
 * Kubernetes API: every place a value sits, and values of every JSON shape to put there.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every place in a body a value sits: each field, nested fields, the first element of each list. */
export function fieldPaths(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  if (Array.isArray(value)) {
    if (value.length) out.push([...prefix, 0], ...fieldPaths(value[0]!, [...prefix, 0]).slice(1));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push(...fieldPaths(v, [...prefix, k]));
  }
  return prefix.length ? [prefix, ...out] : out;
}

export function replaced(body: Json, at: Array<string | number>, value: Json): Json {
  const copy = structuredClone(body);
  let node = copy as Record<string | number, Json>;
  for (const key of at.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  node[at[at.length - 1]!] = value;
  return copy;
}

/** Values of every JSON shape, numbers out of every integer type's range, and strings too long or odd. */
export const PALETTE: Json[] = [
  [1, 2],
  'x',
  { a: 1 },
  ['a'],
  1.5,
  -1,
  1e20,
  -(2 ** 63) * 4,
  true,
  null,
  '',
  5000,
  {},
  [],
  'x'.repeat(5000),
  '%zz\u0000',
  0,
  [null],
];
