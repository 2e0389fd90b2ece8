/** `label` filters as Docker applies them: each `key` must be present, each `key=value` must match. */
export function labelsMatch(labels: Record<string, string> | null | undefined, filters: string[]): boolean {
  return filters.every((f) => {
    const i = f.indexOf('=');
    return i < 0 ? !!labels && f in labels : labels?.[f.slice(0, i)] === f.slice(i + 1);
  });
}

/** `label!` filters (prune): a thing is kept when any `key` is present or any `key=value` matches, so it matches when none do. */
export function labelsExclude(labels: Record<string, string> | null | undefined, filters: string[]): boolean {
  return !filters.some((f) => labelsMatch(labels, [f]));
}
