/**
 * The hijacked streams of containers and execs (`POST /containers/{id}/attach`, `/exec/...`): the
 * connection is taken over and carries output (raw with a TTY, else multiplexed) one way and stdin,
 * watched for detach keys, the other.
 */
import type { Duplex } from 'node:stream';
import type { Engine } from '../../engine/engine.js';
import type { Attachment, OutputChunk } from '../../engine/containers/types.js';
import { readAll } from '../../engine/logs.js';
import { frame } from './containers.js';
import { DEFAULT_DETACH_KEYS, DetachDetector, parseDetachKeys } from './detach.js';
import { apiErrorBody } from './errors.js';
import { boolParam, readJsonBody, sendJson, sendNoContent, type Router } from './router.js';
import * as schema from './schema/types.js';

export function registerStreamRoutes(r: Router, engine: Engine): void {
  const containers = engine.containers;

  const pump = (
    att: Attachment,
    socket: Duplex,
    tty: boolean,
    detachKeys: Buffer,
    onDetach: () => void,
    beforeEnd?: () => Promise<unknown>,
  ): void => {
    att.output.on('data', (chunk: OutputChunk) => {
      socket.write(tty ? chunk.data : frame(chunk.stream === 'stdout' ? 1 : 2, chunk.data));
    });
    att.output.on('end', () => {
      void (beforeEnd?.() ?? Promise.resolve()).then(() => socket.end());
    });
    if (att.stdin) {
      const detector = new DetachDetector(detachKeys);
      let detached = false;
      socket.on('data', (d: Buffer) => {
        if (detached) return;
        const { data, detached: now } = detector.feed(d);
        if (data.length) att.stdin!.write(data);
        if (!now) return;
        // The client goes, the container stays: its stdin is left open and the connection closed.
        detached = true;
        att.close();
        socket.end();
        onDetach();
      });
      socket.on('end', () => {
        if (!detached) att.stdin!.end();
      });
    }
    socket.resume();
    socket.on('error', () => att.close());
    socket.on('close', () => att.close());
  };

  r.add('POST', '/containers/{id}/attach', async ({ req, params, query, hijack }) => {
    const c = containers.resolve(params[0]!);
    const detachKeys = parseDetachKeys(query.get('detachKeys') || DEFAULT_DETACH_KEYS);
    const att = containers.attach(c.Id, {
      stdin: boolParam(query, 'stdin'),
      stdout: boolParam(query, 'stdout'),
      stderr: boolParam(query, 'stderr'),
    });
    const tty = !!c.Config.Tty;
    const socket = hijack(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    req.socket.setNoDelay(true);
    if (boolParam(query, 'logs')) {
      // `logs=1`: what the container printed so far comes first, then the live stream.
      const wantOut = boolParam(query, 'stdout');
      const wantErr = boolParam(query, 'stderr');
      for (const e of (await readAll(c.LogPath)).entries) {
        if ((e.stream === 'stdout' && wantOut) || (e.stream === 'stderr' && wantErr))
          socket.write(tty ? e.data : frame(e.stream === 'stdout' ? 1 : 2, e.data));
      }
    }
    if (!boolParam(query, 'stream')) {
      att.close();
      socket.end();
      return;
    }
    pump(att, socket, tty, detachKeys, () =>
      engine.events.publish('container', 'detach', c.Id, { name: c.Name.slice(1), image: c.Config.Image ?? '' }),
    );
  });

  r.add('POST', '/containers/{id}/exec', async ({ req, res, params }) => {
    const body =
      (await readJsonBody<{
        Cmd?: string[];
        Env?: string[];
        WorkingDir?: string;
        User?: string;
        Tty?: boolean;
        AttachStdin?: boolean;
        AttachStdout?: boolean;
        AttachStderr?: boolean;
        Privileged?: boolean;
        DetachKeys?: string;
      }>(req, schema.execOptions)) ?? {};
    if (body.DetachKeys) parseDetachKeys(body.DetachKeys);
    const id = containers.execCreate(params[0]!, { ...body, Cmd: body.Cmd ?? [] });
    sendJson(res, 201, { Id: id });
  });

  r.add('POST', '/exec/{id}/start', async ({ req, res, params, hijack }) => {
    const body = (await readJsonBody<{ Detach?: boolean; Tty?: boolean }>(req, schema.execStartOptions)) ?? {};
    const info = containers.execInspect(params[0]!);
    const tty = !!(info.ProcessConfig as { tty: boolean }).tty;
    if (body.Detach) {
      const att = await containers.execStart(params[0]!, true);
      att.output.resume();
      sendNoContent(res, 200);
      return;
    }
    // As moby does, the connection is taken over before the process starts: a client that reads the
    // response headers through a buffer (docker-py) would otherwise swallow output sent along with them.
    const socket = hijack(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    let att: Awaited<ReturnType<typeof containers.execStart>>;
    try {
      att = await containers.execStart(params[0]!, false);
    } catch (err) {
      socket.end(`${apiErrorBody(err).message}\r\n`);
      return;
    }
    // The stream closes only once the process has exited, so the client's next call (GET /exec/{id}/json)
    // sees the exit code. A process whose output outlives it is cut off shortly after it exits.
    const detachKeys = parseDetachKeys((info.DetachKeys as string) || DEFAULT_DETACH_KEYS);
    pump(
      att,
      socket,
      tty,
      detachKeys,
      () => undefined,
      () => att.done,
    );
    void att.done.then(() => setTimeout(() => att.close(), 2000).unref());
  });

  r.add('POST', '/exec/{id}/resize', async ({ req, res, params, query }) => {
    req.resume();
    await containers.execResize(params[0]!, Number(query.get('h') ?? 0), Number(query.get('w') ?? 0));
    sendNoContent(res, 200);
  });

  r.add('GET', '/exec/{id}/json', ({ res, params }) => {
    sendJson(res, 200, containers.execInspect(params[0]!));
  });
}
