/**
 * A small router in the manner of moby's api/server/router: each area registers routes that turn HTTP
 * into calls on engine services; this layer owns API versions, status codes and error shapes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { GantryError, invalid } from '../../common/errors.js';
import { readAll } from '../../common/streams.js';
import type { JsonMessage } from '../../engine/progress.js';
import { apiErrorBody, statusOf } from './errors.js';
import { decodeAs, type GoType } from './schema/gojson.js';

export const API_VERSION = '1.45';
export const MIN_API_VERSION = '1.24';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: URLSearchParams;
  /** API version the client asked for (from the `/vX.Y` prefix), or the server's. */
  version: string;
  /**
   * Take the raw connection over, as Docker does for attach and exec: answers `101 UPGRADED` when the
   * client asked to upgrade, else `200 OK`, then the caller owns the socket.
   */
  hijack(contentType: string): Duplex;
  /** The raw connection and what followed the headers, when the client asked to upgrade it. */
  upgrade?: { socket: Duplex; head: Buffer };
}

export type Handler = (ctx: Ctx) => Promise<void> | void;

interface Route {
  method: string;
  re: RegExp;
  handler: Handler;
}

export function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): void {
    // `{name}` matches anything including slashes (image names); `{id}` one segment.
    const re = new RegExp(
      '^' +
        pattern
          .replace(/[.]/g, '\\.')
          .replace(/\{name\}/g, '(.+)')
          .replace(/\{[a-z]+\}/g, '([^/]+)') +
        '$',
    );
    this.routes.push({ method, re, handler });
  }

  async dispatch(req: IncomingMessage, res: ServerResponse, upgrade?: { socket: Duplex; head: Buffer }): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://docker');
    let p = url.pathname;
    let version = API_VERSION;
    const vm = /^\/v(\d+\.\d+)(\/.*)$/.exec(p);
    if (vm) {
      version = vm[1]!;
      p = vm[2]!;
    }
    try {
      if (compareVersions(version, API_VERSION) > 0) {
        throw invalid(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
      }
      if (compareVersions(version, MIN_API_VERSION) < 0) {
        throw invalid(
          `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
        );
      }
      const method =
        req.method === 'HEAD' && !this.routes.some((r) => r.method === 'HEAD' && r.re.test(p))
          ? 'GET'
          : (req.method ?? 'GET');
      for (const r of this.routes) {
        if (r.method !== method) continue;
        const m = r.re.exec(p);
        if (!m) continue;
        const hijack = (contentType: string): Duplex => {
          const socket = upgrade?.socket ?? res.socket!;
          res.detachSocket(res.socket!);
          socket.write(
            upgrade
              ? `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`
              : `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n\r\n`,
          );
          if (upgrade?.head.length) socket.unshift(upgrade.head);
          // What the client sends before the handler reads (stdin, its end) waits in the socket.
          socket.pause();
          return socket;
        };
        await r.handler({
          req,
          res,
          params: m.slice(1).map(decodePathSegment),
          query: url.searchParams,
          version,
          hijack,
          upgrade,
        });
        return;
      }
      throw new GantryError('notFound', 'page not found');
    } catch (err) {
      sendError(res, err);
    }
  }
}

/** A `%`-escaped part of a path; a malformed escape is the client's error. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid(`invalid URL escape in path: ${segment.slice(0, 100)}`);
  }
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    // Mid-stream: report in-band as Docker does for progress streams, then end.
    if (!res.writableEnded) {
      const msg = apiErrorBody(err).message;
      res.end(JSON.stringify({ errorDetail: { message: msg }, error: msg }) + '\r\n');
    }
    return;
  }
  sendJson(res, statusOf(err), apiErrorBody(err));
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendNoContent(res: ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

const upgradeBodies = new WeakMap<IncomingMessage, Buffer>();

/** The body of an upgrade request, which Node does not deliver through the request stream. */
export function setUpgradeBody(req: IncomingMessage, body: Buffer): void {
  upgradeBodies.set(req, body);
}

/**
 * A JSON body, refused with Docker's 400 unless it decodes into `type` (moby's Go type for it): no
 * value of the wrong shape reaches the engine or its stores.
 */
export async function readJsonBody<T>(req: IncomingMessage, type: GoType, limit = 4 << 20): Promise<T | undefined> {
  const raw = upgradeBodies.get(req) ?? (await readAll(req, limit, () => invalid('request body too large')));
  const text = raw.toString('utf8').trim();
  if (!text) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw invalid(`invalid JSON: ${(err as Error).message}`);
  }
  decodeAs(type, body);
  return (body ?? undefined) as T | undefined;
}

/** Start a JSON-lines progress stream and return a writer for messages. */
export function startProgressStream(res: ServerResponse): (msg: JsonMessage) => void {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  return (msg) => {
    if (!res.writableEnded) res.write(JSON.stringify(msg) + '\r\n');
  };
}

/** Filters arrive as JSON: `{"key":{"v":true}}` (current) or `{"key":["v"]}` (old clients). */
export function parseFilters(raw: string | null): Record<string, string[]> {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid(`invalid filter: ${raw}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw invalid(`invalid filter: ${raw}`);
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (typeof v === 'object' && v !== null)
      out[k] = Object.entries(v)
        .filter(([, on]) => on)
        .map(([x]) => x);
    else throw invalid(`invalid filter: ${raw}`);
  }
  return out;
}

export function checkFilters(filters: Record<string, string[]>, allowed: string[]): void {
  for (const k of Object.keys(filters)) if (!allowed.includes(k)) throw invalid(`invalid filter '${k}'`);
}

export function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}
