/**
 * `GET /containers/{id}/attach/ws`: a container's streams over a WebSocket, as moby serves them. Output
 * is never multiplexed (stdout and stderr both arrive as messages, binary from API 1.28 on); every
 * message the client sends is stdin. From API 1.42 the stdin/stdout/stderr parameters choose the
 * streams; before, all three are attached.
 */
import { WebSocketServer, type RawData } from 'ws';
import { invalid } from '../../common/errors.js';
import type { Engine } from '../../engine/engine.js';
import type { OutputChunk } from '../../engine/containers/types.js';
import { readAll } from '../../engine/logs.js';
import { DEFAULT_DETACH_KEYS, DetachDetector, parseDetachKeys } from './detach.js';
import { boolParam, compareVersions, type Router } from './router.js';

/** The largest message a client may send as stdin. */
const MAX_MESSAGE = 1 << 20;

export function registerAttachWebSocketRoute(r: Router, engine: Engine): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE });
  const { containers } = engine;

  r.add('GET', '/containers/{id}/attach/ws', async ({ req, params, query, version, upgrade }) => {
    const c = containers.resolve(params[0]!);
    const detachKeys = parseDetachKeys(query.get('detachKeys') || DEFAULT_DETACH_KEYS);
    if (!upgrade || String(req.headers.upgrade).toLowerCase() !== 'websocket')
      throw invalid('not a websocket handshake: the request must ask to upgrade to websocket');
    const all = compareVersions(version, '1.42') < 0;
    const want = {
      stdin: all || boolParam(query, 'stdin'),
      stdout: all || boolParam(query, 'stdout'),
      stderr: all || boolParam(query, 'stderr'),
    };
    const binary = compareVersions(version, '1.28') >= 0;
    // What was printed before comes first; read before the handshake so nothing live is missed or repeated.
    const earlier = boolParam(query, 'logs') ? (await readAll(c.LogPath)).entries : [];
    wss.handleUpgrade(req, upgrade.socket, upgrade.head, (ws) => {
      for (const e of earlier)
        if ((e.stream === 'stdout' && want.stdout) || (e.stream === 'stderr' && want.stderr))
          ws.send(e.data, { binary });
      if (!boolParam(query, 'stream')) {
        ws.close(1000);
        return;
      }
      const att = containers.attach(c.Id, want);
      att.output.on('data', (chunk: OutputChunk) => ws.send(chunk.data, { binary }));
      att.output.on('end', () => ws.close(1000));
      const detector = new DetachDetector(detachKeys);
      ws.on('message', (data: RawData) => {
        if (!att.stdin) return;
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
        const fed = detector.feed(bytes);
        if (fed.data.length) att.stdin.write(fed.data);
        if (!fed.detached) return;
        att.close();
        ws.close(1000);
        engine.events.publish('container', 'detach', c.Id, { name: c.Name.slice(1), image: c.Config.Image ?? '' });
      });
      ws.on('close', () => att.close());
      ws.on('error', () => att.close());
    });
  });
}
