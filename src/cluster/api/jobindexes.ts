/** A Job's index sets as Kubernetes writes them (`0-2,4`): read back, and matched against success policy rules. */

/**
 * `0-2,4` read back (Kubernetes' validateIndexesFormat): increasing intervals of indexes below
 * `completions`; a string naming the first problem otherwise.
 */
export function parseIndexes(text: string, completions: number): Set<number> | string {
  const out = new Set<number>();
  let previous = -1;
  for (const part of text ? text.split(',') : []) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return `cannot convert string to integer for index: ${JSON.stringify(part)}`;
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last >= completions) return `too large index: ${JSON.stringify(String(last))}`;
    if (first > last) return `non-increasing order, previous: ${first}, current: ${last}`;
    if (first <= previous) return `non-increasing order, previous: ${previous}, current: ${first}`;
    for (let i = first; i <= last; i++) out.add(i);
    previous = last;
  }
  return out;
}

/** The first success policy rule the succeeded indexes meet (Kubernetes' matchSuccessPolicy), or -1. */
export function matchedSuccessRule(
  rules: Array<{ succeededIndexes?: string; succeededCount?: number }>,
  succeeded: Set<number>,
  completions: number,
): number {
  return rules.findIndex((rule) => {
    const listed = rule.succeededIndexes === undefined ? undefined : parseIndexes(rule.succeededIndexes, completions);
    if (typeof listed === 'string') return false;
    const within = listed ? [...listed].filter((i) => succeeded.has(i)).length : succeeded.size;
    if (rule.succeededCount !== undefined) return within >= rule.succeededCount;
    return listed !== undefined && within === listed.size;
  });
}
