/**
 * The classic builder's API: `POST /build` takes the context as a tar body and answers JSON lines
 * (`stream`, `aux` with the image ID, `error`/`errorDetail`), as the docker CLI without buildx and
 * docker-py use it; `POST /build/prune` empties the build cache.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errorMessage, invalid } from '../../common/errors.js';
import { DEFAULT_LIMITS, type Engine } from '../../engine/engine.js';
import { dockerignore, unpackContext } from '../../build/context.js';
import { checkArchiveUpload } from '../../diff/archivecheck.js';
import type { BuildMessage } from '../../build/types.js';
import { decodeRegistryConfig } from '../../registry/auth.js';
import { parseExtraHost } from '../../containers/resolution.js';
import { boolParam, sendJson, type Router } from './router.js';
import { crashPoint } from '../../common/faults.js';

/** A JSON object query parameter (`buildargs`, `labels`); clients send `{}` or nothing for none. */
function jsonParam<T>(query: URLSearchParams, name: string): T | undefined {
  const raw = query.get(name);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw invalid(`invalid ${name} parameter: ${raw}`);
  }
}

export function registerBuildRoutes(r: Router, engine: Engine): void {
  r.add('POST', '/build', async ({ req, res, query }) => {
    if (query.get('remote'))
      throw invalid('remote build contexts are not supported; send the context as the request body');
    const platform = query.get('platform');
    if (platform && !/^linux(\/amd64)?$/.test(platform))
      throw invalid(`image with platform ${platform} is not supported on this host`);
    const extraHosts = query.getAll('extrahosts').flatMap((h) => h.split(',').filter(Boolean));
    for (const h of extraHosts) parseExtraHost(h);
    const cacheFrom = jsonParam<unknown>(query, 'cachefrom') ?? [];
    if (!Array.isArray(cacheFrom) || cacheFrom.some((c) => typeof c !== 'string'))
      throw invalid('invalid cachefrom parameter: it must be a JSON array of image references');
    const context = await checkArchiveUpload(req, 'the build context');
    const dir = path.join(engine.config.dataRoot, 'build', 'contexts', randomBytes(8).toString('hex'));
    await fs.mkdir(dir, { recursive: true });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const quiet = boolParam(query, 'q');
    const send = (m: BuildMessage): void => {
      if (quiet && m.stream) return;
      if (!res.writableEnded) res.write(JSON.stringify(m) + '\r\n');
    };
    const header = req.headers['x-registry-config'];
    const auths = decodeRegistryConfig(typeof header === 'string' ? header : undefined);
    try {
      const digests = await unpackContext(context, dir, {
        ...DEFAULT_LIMITS.context,
        ...engine.config.limits?.context,
      });
      crashPoint('build:context');
      const id = await engine.builder.build({
        contextDir: dir,
        digests,
        ignored: await dockerignore(dir),
        dockerfile: query.get('dockerfile') || 'Dockerfile',
        tags: query.getAll('t'),
        buildArgs: jsonParam<Record<string, string | null>>(query, 'buildargs') ?? {},
        labels: jsonParam<Record<string, string>>(query, 'labels') ?? {},
        target: query.get('target') || undefined,
        noCache: boolParam(query, 'nocache'),
        pull: boolParam(query, 'pull'),
        networkMode: query.get('networkmode') || undefined,
        extraHosts,
        cacheFrom: cacheFrom as string[],
        auth: (registry) =>
          auths[registry] ??
          (registry === 'docker.io' ? (auths['https://index.docker.io/v1/'] ?? undefined) : undefined),
        output: send,
      });
      // Quiet clients print what streams back, which is then only the image ID (as Docker does).
      if (quiet && !res.writableEnded) res.write(JSON.stringify({ stream: `${id}\n` }) + '\r\n');
    } catch (err) {
      const code = (err as { code?: number }).code;
      send({
        errorDetail: { ...(typeof code === 'number' ? { code } : {}), message: errorMessage(err) },
        error: errorMessage(err),
      });
    } finally {
      res.end();
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  });

  r.add('POST', '/build/prune', async ({ req, res }) => {
    req.resume();
    sendJson(res, 200, await engine.builder.prune());
  });
}
