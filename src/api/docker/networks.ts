/** Network routes: list, inspect, create, remove, connect, disconnect, prune (Docker's shapes). */
import { invalid } from '../../common/errors.js';
import { labelsMatch } from '../../common/labels.js';
import type { Engine } from '../../engine/engine.js';
import type { EndpointRequest } from '../../network/ipam.js';
import { PREDEFINED, type NetworkRecord } from '../../network/types.js';
import { checkFilters, parseFilters, readJsonBody, sendJson, sendNoContent, type Router } from './router.js';
import * as schema from './schema/types.js';

export function registerNetworkRoutes(r: Router, engine: Engine): void {
  const networks = engine.networks;
  const view = (
    { userSubnet: _user, userSubnet6: _user6, ...n }: NetworkRecord,
    withContainers: boolean,
  ): Record<string, unknown> => ({
    ...n,
    Containers: withContainers ? networks.attached({ ...n }) : {},
  });

  r.add('GET', '/networks', ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['name', 'id', 'driver', 'label', 'type', 'scope', 'dangling']);
    const used = new Set(engine.containers.list().flatMap((c) => Object.keys(c.NetworkSettings?.Networks ?? {})));
    const list = networks.list().filter((n) => {
      if (filters.name && !filters.name.some((f) => n.Name.includes(f))) return false;
      if (filters.id && !filters.id.some((f) => n.Id.startsWith(f))) return false;
      if (filters.driver && !filters.driver.includes(n.Driver)) return false;
      if (filters.label && !labelsMatch(n.Labels, filters.label)) return false;
      if (filters.type && !filters.type.includes(PREDEFINED.includes(n.Name) ? 'builtin' : 'custom')) return false;
      if (filters.dangling && filters.dangling.includes('true') === used.has(n.Name)) return false;
      return true;
    });
    sendJson(
      res,
      200,
      list.map((n) => view(n, false)),
    );
  });

  r.add('GET', '/networks/{id}', ({ res, params }) => {
    sendJson(res, 200, view(networks.get(params[0]!), true));
  });

  r.add('POST', '/networks/create', async ({ req, res }) => {
    const body = (await readJsonBody<Parameters<typeof networks.create>[0]>(req, schema.networkCreateRequest)) ?? {};
    if (!body.Name) throw invalid('network name is required');
    const rec = await networks.create(body);
    sendJson(res, 201, { Id: rec.Id, Warning: '' });
  });

  r.add('DELETE', '/networks/{id}', async ({ res, params }) => {
    await networks.remove(params[0]!);
    sendNoContent(res);
  });

  r.add('POST', '/networks/{id}/connect', async ({ req, res, params }) => {
    const body =
      (await readJsonBody<{ Container?: string; EndpointConfig?: EndpointRequest & { Links?: string[] | null } }>(
        req,
        schema.networkConnect,
      )) ?? {};
    if (!body.Container) throw invalid('container is required');
    await engine.containers.connectNetwork(body.Container, params[0]!, body.EndpointConfig ?? {});
    sendNoContent(res, 200);
  });

  r.add('POST', '/networks/{id}/disconnect', async ({ req, res, params }) => {
    const body = (await readJsonBody<{ Container?: string; Force?: boolean }>(req, schema.networkDisconnect)) ?? {};
    if (!body.Container) throw invalid('container is required');
    await engine.containers.disconnectNetwork(body.Container, params[0]!);
    sendNoContent(res, 200);
  });

  r.add('POST', '/networks/prune', async ({ req, res }) => {
    req.resume();
    sendJson(res, 200, { NetworksDeleted: await networks.prune() });
  });
}
