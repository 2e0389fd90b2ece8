/** Volume routes: list, create, inspect, remove, prune (Docker's shapes). */
import type { Engine } from '../../engine/engine.js';
import { labelsMatch } from '../../common/labels.js';
import type { Volume } from '../../volumes/store.js';
import { boolParam, checkFilters, parseFilters, readJsonBody, sendJson, sendNoContent, type Router } from './router.js';
import * as schema from './schema/types.js';

export function registerVolumeRoutes(r: Router, engine: Engine): void {
  const volumes = engine.volumes;

  r.add('GET', '/volumes', ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['name', 'driver', 'label', 'dangling']);
    const list = volumes.list().filter((v: Volume) => {
      if (filters.name && !filters.name.some((f) => v.Name.includes(f))) return false;
      if (filters.driver && !filters.driver.includes(v.Driver)) return false;
      if (filters.label && !labelsMatch(v.Labels, filters.label)) return false;
      if (filters.dangling) {
        const dangling = filters.dangling.includes('true') || filters.dangling.includes('1');
        if (dangling !== (volumes.usedByCount(v.Name) === 0)) return false;
      }
      return true;
    });
    sendJson(res, 200, { Volumes: list, Warnings: [] });
  });

  r.add('POST', '/volumes/create', async ({ req, res }) => {
    const body = (await readJsonBody<Parameters<typeof volumes.create>[0]>(req, schema.volumeCreate)) ?? {};
    const v = await volumes.create(body);
    engine.events.publish('volume', 'create', v.Name, { driver: v.Driver });
    sendJson(res, 201, v);
  });

  r.add('GET', '/volumes/{name}', ({ res, params }) => {
    sendJson(res, 200, volumes.get(params[0]!));
  });

  r.add('DELETE', '/volumes/{name}', async ({ res, params, query }) => {
    await volumes.remove(params[0]!, boolParam(query, 'force'));
    engine.events.publish('volume', 'destroy', params[0]!, { driver: 'local' });
    sendNoContent(res);
  });

  r.add('POST', '/volumes/prune', async ({ req, res, query }) => {
    req.resume();
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['label', 'all']);
    const all = (filters.all ?? []).some((v) => v === 'true' || v === '1');
    const result = await volumes.prune({ all, label: filters.label });
    for (const name of result.VolumesDeleted) engine.events.publish('volume', 'destroy', name, { driver: 'local' });
    sendJson(res, 200, result);
  });
}
