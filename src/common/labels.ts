/** `label` filters as Docker applies them: each `key` must be present, each `key=value` must match. */
export function labelsMatch(labels: Record<string, string> | null | undefined, filters: string[]): boolean {
  return filters.every((f) => {
    const i = f.indexOf('=');
    return i < 0 ? !!labels && f in labels : labels?.[f.slice(0, i)] === f.slice(i + 1);
  });
}
