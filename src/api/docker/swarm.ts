/**
 * Swarm's endpoints as an engine outside a swarm answers them (moby's `daemon/cluster` errors): every
 * read and write of swarm objects is a 503 "not a swarm manager", leaving is a 503 "not part of a
 * swarm". Clients (docker-py, testcontainers, compose) call these to clean up and expect exactly that.
 */
import type { Router } from './router.js';
import { sendJson } from './router.js';

const NOT_A_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NOT_IN_A_SWARM = 'This node is not part of a swarm';

/** Swarm object collections: list, inspect, create, update, delete each answer the same. */
const COLLECTIONS = ['services', 'nodes', 'tasks', 'secrets', 'configs'];

export function registerSwarmRoutes(r: Router): void {
  const unavailable = (message: string) => (ctx: { res: Parameters<typeof sendJson>[0] }) =>
    sendJson(ctx.res, 503, { message });
  r.add('POST', '/swarm/leave', unavailable(NOT_IN_A_SWARM));
  r.add('GET', '/swarm', unavailable(NOT_A_MANAGER));
  r.add('GET', '/swarm/unlockkey', unavailable(NOT_A_MANAGER));
  r.add('POST', '/swarm/update', unavailable(NOT_A_MANAGER));
  r.add('POST', '/swarm/unlock', unavailable(NOT_A_MANAGER));
  for (const c of COLLECTIONS) {
    r.add('GET', `/${c}`, unavailable(NOT_A_MANAGER));
    r.add('POST', `/${c}/create`, unavailable(NOT_A_MANAGER));
    r.add('GET', `/${c}/{id}`, unavailable(NOT_A_MANAGER));
    r.add('DELETE', `/${c}/{id}`, unavailable(NOT_A_MANAGER));
    r.add('POST', `/${c}/{id}/update`, unavailable(NOT_A_MANAGER));
  }
  r.add('GET', '/services/{id}/logs', unavailable(NOT_A_MANAGER));
  r.add('GET', '/tasks/{id}/logs', unavailable(NOT_A_MANAGER));
}
