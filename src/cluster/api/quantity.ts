/**
 * Kubernetes resource quantities (`100m`, `2`, `128Mi`, `1G`, `1e3`): parsed to integers in the unit the
 * scheduler counts in — millicores for CPU, bytes for memory and everything else — rounding up, as
 * `resource.Quantity.MilliValue()`/`Value()` do.
 */
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};
const QUANTITY = /^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?[0-9]+))?$/;

/** The quantity's value (1 for `1`, 0.1 for `100m`), or undefined when it is not a quantity. */
export function parseQuantity(q: unknown): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  if (typeof q !== 'string') return undefined;
  const m = QUANTITY.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[3] !== undefined) return n * 10 ** Number(m[3]);
  return n * (BINARY[m[2] ?? ''] ?? DECIMAL[m[2] ?? '']!);
}

/** CPU in millicores (`100m` → 100, `2` → 2000); 0 when absent or invalid. */
export function milliValue(q: unknown): number {
  const v = parseQuantity(q);
  return v === undefined ? 0 : Math.ceil(v * 1000 - 1e-9);
}

/** Memory, pods and other counts as integers (`128Mi` → 134217728); 0 when absent or invalid. */
export function value(q: unknown): number {
  const v = parseQuantity(q);
  return v === undefined ? 0 : Math.ceil(v - 1e-9);
}
