/**
 * Docker Hub's search API (`GET /v1/search?q=&n=&page=`): served by Gantry's registry over its
 * repositories, and asked by the engine's `/images/search` of any registry that has it, as moby's
 * registry.Service.Search does: the index comes from the term (`host[:port]/name`, else Docker Hub).
 */
import { GantryError, invalid } from '../common/errors.js';
import { DEFAULT_DOMAIN } from '../images/reference.js';
import type { AuthConfig } from './auth.js';
import type { RegistryClient } from './client.js';
import { readBody, request } from './http.js';

export interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

export interface SearchPage {
  num_pages: number;
  num_results: number;
  results: SearchResult[];
  page_size: number;
  query: string;
  page: number;
}

/** One page of the repositories whose name holds `query` (any case), as Docker Hub pages them. */
export function searchRepositories(repositories: string[], query: string, pageSize: number, page: number): SearchPage {
  const q = query.toLowerCase();
  const matches = repositories.filter((r) => r.toLowerCase().includes(q)).sort();
  const size = Math.min(Math.max(pageSize, 1), 100);
  const numPages = Math.max(1, Math.ceil(matches.length / size));
  const current = Math.min(Math.max(page, 1), numPages);
  return {
    num_pages: numPages,
    num_results: matches.length,
    results: matches.slice((current - 1) * size, current * size).map((name) => ({
      name,
      description: '',
      star_count: 0,
      is_official: false,
      is_automated: false,
    })),
    page_size: size,
    query,
    page: current,
  };
}

/** The index a search term names and the name searched there (moby's ParseSearchIndexInfo). */
export function searchTarget(term: string): { index: string; name: string } {
  const slash = term.indexOf('/');
  const first = slash < 0 ? '' : term.slice(0, slash);
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost'))
    return { index: first, name: term.slice(slash + 1) };
  return { index: DEFAULT_DOMAIN, name: term.replace(/^library\//, '') };
}

export interface SearchFilters {
  stars?: number;
  isOfficial?: boolean;
  isAutomated?: boolean;
}

/** `GET /images/search`: the results an index gives for a term, filtered as moby filters them. */
export async function searchIndex(
  client: RegistryClient,
  term: string,
  limit: number,
  filters: SearchFilters,
  auth: AuthConfig | undefined,
): Promise<SearchResult[]> {
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    throw invalid(`limit ${limit} is outside the range of [1, 100]`);
  const { index, name } = searchTarget(term);
  if (!/^[a-zA-Z0-9.-]+(:\d{1,5})?$/.test(index)) throw invalid(`invalid index name (${index})`);
  const bases =
    index === DEFAULT_DOMAIN
      ? ['https://index.docker.io']
      : client.isInsecure(index)
        ? [`https://${index}`, `http://${index}`]
        : [`https://${index}`];
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (auth?.username && auth.password)
    headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  let lastError = '';
  for (const base of bases) {
    const url = new URL('/v1/search', base);
    url.searchParams.set('q', name);
    url.searchParams.set('n', String(limit));
    try {
      const res = await request(url, { headers, insecureTls: client.isInsecure(index), timeoutMs: 15000 });
      const body = await readBody(res, 8 << 20);
      if (res.status !== 200) {
        lastError = `Unexpected status code ${res.status}`;
        continue;
      }
      const page = JSON.parse(body.toString()) as Partial<SearchPage>;
      const results = Array.isArray(page.results) ? page.results : [];
      return results
        .filter((r): r is SearchResult => !!r && typeof r.name === 'string')
        .map((r) => ({
          name: r.name,
          description: typeof r.description === 'string' ? r.description : '',
          star_count: Number.isInteger(r.star_count) ? r.star_count : 0,
          is_official: r.is_official === true,
          is_automated: r.is_automated === true,
        }))
        .filter(
          (r) =>
            (filters.stars === undefined || r.star_count >= filters.stars) &&
            (filters.isOfficial === undefined || r.is_official === filters.isOfficial) &&
            (filters.isAutomated === undefined || r.is_automated === filters.isAutomated),
        )
        .slice(0, limit);
    } catch (err) {
      lastError = (err as Error).message;
    }
  }
  throw new GantryError('unavailable', `Get "${bases.at(-1)}/v1/search": ${lastError}`);
}
