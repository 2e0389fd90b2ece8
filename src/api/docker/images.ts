/** Image routes: /images/... over the engine's image service. */
import { pipeline } from 'node:stream/promises';
import { searchIndex } from '../../registry/search.js';
import { invalid } from '../../common/errors.js';
import { checkArchiveUpload } from '../../diff/archivecheck.js';
import type { Engine } from '../../engine/engine.js';
import { decodeAuthHeader } from '../../registry/auth.js';
import { parseNormalizedReference } from '../../images/reference.js';
import {
  boolParam,
  checkFilters,
  parseFilters,
  sendJson,
  startProgressStream,
  sendError,
  type Router,
} from './router.js';

export function registerImageRoutes(r: Router, engine: Engine): void {
  const images = engine.images;

  r.add('GET', '/images/json', async ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['dangling', 'label', 'before', 'since', 'reference', 'until']);
    const list = await images.list({
      all: boolParam(query, 'all'),
      filters,
      sharedSize: boolParam(query, 'shared-size'),
    });
    sendJson(res, 200, list);
  });

  r.add('GET', '/distribution/{name}/json', async ({ req, res, params }) => {
    const auth = decodeAuthHeader(req.headers['x-registry-auth'] as string | undefined);
    sendJson(res, 200, await images.distributionInspect(params[0]!, auth));
  });

  r.add('POST', '/images/create', async ({ req, res, query }) => {
    const fromImage = query.get('fromImage');
    const fromSrc = query.get('fromSrc');
    if (fromImage) {
      req.resume();
      const tag = query.get('tag') ?? '';
      let refStr = fromImage;
      const parsed = parseNormalizedReference(fromImage);
      if (tag && !parsed.tag && !parsed.digest)
        refStr = tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
      const platform = query.get('platform');
      if (platform && !/^linux(\/amd64)?$/.test(platform))
        throw invalid(`image with platform ${platform} is not supported on this host`);
      const auth = decodeAuthHeader(req.headers['x-registry-auth'] as string | undefined);
      // Validate before answering 200, so a bad reference is a plain 400.
      parseNormalizedReference(refStr);
      const progress = startProgressStream(res);
      try {
        await images.pull(refStr, auth, progress);
        res.end();
      } catch (err) {
        sendError(res, err);
      }
      return;
    }
    if (fromSrc !== null) {
      if (fromSrc !== '-')
        throw invalid('importing from a URL is not supported; send the tarball in the request body (fromSrc=-)');
      const upload = await checkArchiveUpload(req, 'the imported archive');
      const progress = startProgressStream(res);
      try {
        const id = await images.importImage(upload, {
          repo: query.get('repo') || undefined,
          tag: query.get('tag') || undefined,
          changes: query.getAll('changes'),
          message: query.get('message') || undefined,
        });
        progress({ status: id });
        res.end();
      } catch (err) {
        sendError(res, err);
      }
      return;
    }
    throw invalid('either fromImage or fromSrc is required');
  });

  r.add('GET', '/images/get', async ({ res, query }) => {
    const names = query.getAll('names');
    if (names.length === 0) throw invalid('no images specified');
    for (const n of names) images.resolve(n);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await pipeline(images.save(names), res).catch((err: unknown) => res.destroy(err as Error));
  });

  r.add('POST', '/images/load', async ({ req, res }) => {
    // `quiet` only hides progress bars; the "Loaded image" lines are always sent, as Docker does.
    const upload = await checkArchiveUpload(req, 'the image archive');
    const progress = startProgressStream(res);
    try {
      await images.load(upload, progress);
      res.end();
    } catch (err) {
      sendError(res, err);
    }
  });

  r.add('POST', '/images/prune', async ({ req, res, query }) => {
    req.resume();
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['dangling', 'until', 'label', 'label!']);
    sendJson(res, 200, await images.prune(filters));
  });

  r.add('GET', '/images/{name}/json', async ({ res, params }) => {
    sendJson(res, 200, await images.inspect(params[0]!));
  });

  r.add('GET', '/images/{name}/history', async ({ res, params }) => {
    sendJson(res, 200, await images.history(params[0]!));
  });

  r.add('GET', '/images/{name}/get', async ({ res, params }) => {
    images.resolve(params[0]!);
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await pipeline(images.save([params[0]!]), res).catch((err: unknown) => res.destroy(err as Error));
  });

  r.add('POST', '/images/{name}/tag', async ({ req, res, params, query }) => {
    req.resume();
    const repo = query.get('repo');
    if (!repo) throw invalid('repository name is required');
    await images.tag(params[0]!, repo, query.get('tag') || undefined);
    res.writeHead(201);
    res.end();
  });

  r.add('POST', '/images/{name}/push', async ({ req, res, params, query }) => {
    req.resume();
    const auth = decodeAuthHeader(req.headers['x-registry-auth'] as string | undefined);
    parseNormalizedReference(params[0]!);
    const progress = startProgressStream(res);
    try {
      await images.push(params[0]!, query.get('tag') || undefined, auth, progress);
      res.end();
    } catch (err) {
      sendError(res, err);
    }
  });

  r.add('DELETE', '/images/{name}', async ({ res, params, query }) => {
    sendJson(res, 200, await images.remove(params[0]!, boolParam(query, 'force'), !boolParam(query, 'noprune')));
  });

  r.add('GET', '/images/search', async ({ req, res, query }) => {
    const term = query.get('term') ?? '';
    if (!term) throw invalid('term is required');
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['is-automated', 'is-official', 'stars']);
    const bool = (key: string): boolean | undefined => {
      const v = filters[key]?.[0];
      if (v === undefined) return undefined;
      if (!['true', 'false', '1', '0'].includes(v)) throw invalid(`invalid filter '${key}=${v}'`);
      return v === 'true' || v === '1';
    };
    const stars = filters.stars?.[0];
    if (stars !== undefined && !/^\d+$/.test(stars)) throw invalid(`invalid filter 'stars=${stars}'`);
    const limitText = query.get('limit');
    const auth = decodeAuthHeader(req.headers['x-registry-auth'] as string | undefined);
    const results = await searchIndex(
      engine.registry,
      term,
      limitText ? Number(limitText) : 25,
      {
        stars: stars === undefined ? undefined : Number(stars),
        isOfficial: bool('is-official'),
        isAutomated: bool('is-automated'),
      },
      auth,
    );
    sendJson(res, 200, results);
  });
}
