/** The Docker Engine API server: HTTP over a unix socket (or TCP), routing to the engine. */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Engine } from '../../engine/engine.js';
import { registerImageRoutes } from './images.js';
import { Router } from './router.js';
import { registerSystemRoutes } from './system.js';
import { registerContainerRoutes } from './containers.js';

export function createDockerApi(engine: Engine): http.Server {
  const router = new Router();
  registerSystemRoutes(router, engine);
  registerImageRoutes(router, engine);
  registerContainerRoutes(router, engine);
  const server = http.createServer((req, res) => {
    res.setHeader('Server', `Gantry/${process.env.npm_package_version ?? '0.1.0'} (linux)`);
    res.setHeader('Api-Version', '1.44');
    res.setHeader('Ostype', 'linux');
    const started = Date.now();
    res.on('finish', () => engine.config.logger.debug({ method: req.method, url: req.url, status: res.statusCode, ms: Date.now() - started }, 'api'));
    void router.dispatch(req, res);
  });
  // attach and exec ask to upgrade the connection; they get a response bound to the raw socket.
  server.on('upgrade', (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    const res = new http.ServerResponse(req);
    res.assignSocket(socket as import('node:net').Socket);
    res.on('finish', () => socket.end());
    void router.dispatch(req, res, { socket, head });
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
