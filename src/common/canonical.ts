/**
 * JSON with object keys in sorted order, so equal values print alike however their keys were ordered.
 * `dropNulls` leaves out null members too, as Go reads them as zero values.
 */
export function canonicalJson(v: unknown, dropNulls = false): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x, dropNulls)).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined && !(dropNulls && o[k] === null))
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k], dropNulls)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
