/** The Docker Engine API server: HTTP over a unix socket (or TCP), routing to the engine. */
import { promises as fs } from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import type { Engine } from '../../engine/engine.js';
import { registerImageRoutes } from './images.js';
import { API_VERSION, Router, setUpgradeBody } from './router.js';
import { GANTRY_VERSION } from '../../version.js';
import { registerSystemRoutes } from './system.js';
import { registerAttachWebSocketRoute } from './attachws.js';
import { registerContainerRoutes } from './containers.js';
import { registerStreamRoutes } from './streams.js';
import { registerNetworkRoutes } from './networks.js';
import { registerVolumeRoutes } from './volumes.js';
import { registerBuildRoutes } from './build.js';
import { registerSwarmRoutes } from './swarm.js';

export function createDockerApi(engine: Engine): http.Server {
  const router = new Router();
  registerSystemRoutes(router, engine);
  registerImageRoutes(router, engine);
  registerContainerRoutes(router, engine);
  registerStreamRoutes(router, engine);
  registerAttachWebSocketRoute(router, engine);
  registerNetworkRoutes(router, engine);
  registerVolumeRoutes(router, engine);
  registerBuildRoutes(router, engine);
  registerSwarmRoutes(router);
  const server = http.createServer((req, res) => {
    res.setHeader('Server', `Gantry/${GANTRY_VERSION} (linux)`);
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Ostype', 'linux');
    const started = Date.now();
    res.on('finish', () =>
      engine.config.logger.debug(
        { method: req.method, url: req.url, status: res.statusCode, ms: Date.now() - started },
        'api',
      ),
    );
    void router.dispatch(req, res);
  });
  // attach and exec ask to upgrade the connection; they get a response bound to the raw socket.
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    void (async () => {
      // Node leaves an upgrade request's body in `head`: split it off, reading more if it is short.
      const len = Number(req.headers['content-length'] ?? 0);
      let buf = head;
      while (buf.length < len) {
        const [chunk] = (await once(socket, 'data')) as [Buffer];
        buf = Buffer.concat([buf, chunk]);
      }
      setUpgradeBody(req, buf.subarray(0, len));
      const res = new http.ServerResponse(req);
      res.assignSocket(socket as Socket);
      res.on('finish', () => socket.end());
      await router.dispatch(req, res, { socket, head: buf.subarray(len) });
    })().catch(() => socket.destroy());
  });
  server.keepAliveTimeout = 60000;
  // Long pulls, pushes and streams must not be cut by Node's default request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60000;
  return server;
}

/** Listen on `unix:///path`, `tcp://host:port` or `fd://` style addresses (dockerd's -H). */
export async function listen(server: http.Server, host: string): Promise<string> {
  if (host.startsWith('unix://')) {
    const sock = host.slice('unix://'.length);
    await fs.mkdir(path.dirname(sock), { recursive: true });
    await fs.rm(sock, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(sock, () => resolve());
    });
    await fs.chmod(sock, 0o660);
    return host;
  }
  const m = /^tcp:\/\/([^:]*):(\d+)$/.exec(host);
  if (!m) throw new Error(`unsupported host address ${host}: use unix:///path or tcp://host:port`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1] || '127.0.0.1', () => resolve());
  });
  return host;
}
