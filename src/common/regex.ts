/**
 * Regular expressions from users (Docker's `name` filters, glob patterns of `reference` filters and
 * COPY sources) are matched by RE2's algorithm (`re2js`), in time linear in the input, as Go's regexp
 * matches them in Docker: a pattern like `(a+)+$` cannot stall the daemon.
 */
import { RE2JS } from 're2js';
import { invalid } from './errors.js';

export type Matcher = (s: string) => boolean;

/** A regular expression in Go's (RE2) syntax, matched anywhere in the input, as Docker's filters do. */
export function userRegex(pattern: string, what = 'filter'): Matcher {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw invalid(`invalid ${what} ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
  return (s) => re.matcher(s).find();
}

/** An anchored regular expression built by Gantry from a user's glob (already escaped), matched whole. */
export function anchoredRegex(source: string, what = 'pattern'): Matcher {
  return userRegex(`^(?:${source})$`, what);
}
