/**
 * A blob's body read straight into memory the caller provides. The GET runs on a connection of its
 * own whose socket reads land in the caller's buffers (net and tls `onread`), so hundreds of MB cost
 * the daemon's main thread no HTTP parser, no Buffer per read, no copy and no garbage: a pull hands
 * the bytes to its unpack worker through shared memory (engine/layerpool.ts). Only the plain answer
 * goes this way — 200 with a Content-Length and no transfer coding, after up to five redirects (a
 * registry's blob storage); for anything else the caller asks again with the general client
 * (http.ts), which knows the rest of HTTP. The response head is read within a fixed size and parsed
 * strictly: it comes from a server we do not trust.
 */
import net from 'node:net';
import tls from 'node:tls';

/** Where a body's bytes go. */
export interface BodySink {
  /** Contiguous memory for the next bytes, or undefined while there is none (reading pauses). */
  space(): Uint8Array | undefined;
  /** `n` bytes were written at the start of the memory `space()` last gave. */
  written(n: number): void;
  end(): void;
  error(err: Error): void;
}

export interface RawGetOptions {
  headers?: Record<string, string>;
  insecureTls?: boolean;
  timeoutMs?: number;
}

/** The answer: a body to take, or the status of an answer the general client must handle. */
export type RawAnswer = { body: RawBody } | { status: number; body?: undefined };

/** Node's own limit on a response head (--max-http-header-size). */
export const MAX_HEAD = 16 << 10;
const MAX_REDIRECTS = 5;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE_OK = /^[^\r\n\0]*$/;

export function rawGet(url: URL, opts: RawGetOptions = {}, redirects = MAX_REDIRECTS): Promise<RawAnswer> {
  for (const [name, value] of Object.entries(opts.headers ?? {})) {
    if (!TOKEN.test(name) || !HEADER_VALUE_OK.test(value))
      return Promise.reject(new Error(`invalid character in request header ${JSON.stringify(name)}`));
  }
  return new RawBody(url, opts).answer.then((a) => {
    if (!('location' in a)) return a;
    if (redirects <= 0) return { status: a.status };
    const next = new URL(a.location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return { status: a.status };
    const headers = { ...opts.headers };
    // Never forward registry credentials to another host (blob storage redirects).
    if (next.host !== url.host) delete headers.Authorization;
    return rawGet(next, { ...opts, headers }, redirects - 1);
  });
}

type Redirect = { status: number; location: string };
type Head = { status: number; headers: Map<string, string[]> };

/** The response head in `buf`, or an error naming what is wrong with it. */
export function parseHead(buf: Buffer): Head {
  const lines = buf.toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n\0]*)?$/.exec(lines[0]!);
  if (!m) throw new Error(`malformed response status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (colon <= 0 || !TOKEN.test(name) || !HEADER_VALUE_OK.test(value))
      throw new Error(`malformed response header ${JSON.stringify(line.slice(0, 80))}`);
    headers.set(name, [...(headers.get(name) ?? []), value]);
  }
  return { status: Number(m[1]), headers };
}

/** The body's length, when the answer is one this reader takes (200, one Content-Length, no coding). */
function plainLength(head: Head): number | undefined {
  if (head.status !== 200 || head.headers.has('transfer-encoding')) return undefined;
  const lengths = new Set(head.headers.get('content-length') ?? []);
  const [only] = lengths;
  if (lengths.size !== 1 || !/^\d{1,15}$/.test(only!)) return undefined;
  return Number(only);
}

export class RawBody {
  readonly answer: Promise<RawAnswer | Redirect>;
  /** The body's length (Content-Length). */
  size = 0;
  private readonly socket: net.Socket;
  private readonly headBuf = Buffer.allocUnsafe(MAX_HEAD);
  private headLen = 0;
  private inBody = false;
  /** Body bytes read before a sink took them, or while it had no room. */
  private held: Buffer[] = [];
  private received = 0;
  private sink: BodySink | undefined;
  /** The memory last handed to the socket to read into. */
  private view: Uint8Array;
  private paused = false;
  private over = false;
  private settle!: (a: RawAnswer | Redirect) => void;
  private failure: Error | undefined;
  private reject!: (err: Error) => void;

  constructor(
    private readonly url: URL,
    opts: RawGetOptions,
  ) {
    this.answer = new Promise((resolve, reject) => {
      this.settle = resolve;
      this.reject = reject;
    });
    this.view = this.headBuf;
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const onread = { buffer: () => this.nextBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) };
    this.socket =
      url.protocol === 'https:'
        ? tls.connect({
            host,
            port,
            servername: net.isIP(host) ? undefined : host,
            rejectUnauthorized: !opts.insecureTls,
            // Taken by tls.connect as by net.connect (Node's documentation), missing from its types.
            ...({ onread } as tls.ConnectionOptions),
          })
        : net.connect({ host, port, onread });
    const request = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      'User-Agent: gantry/0.1',
      ...Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
      'Connection: close',
      '',
      '',
    ].join('\r\n');
    this.socket.write(request);
    if (opts.timeoutMs) {
      this.socket.setTimeout(opts.timeoutMs, () => this.fail(new Error(`request to ${url.host} timed out`)));
    }
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => {
      // Whole when what is still held for the sink completes it: the sink takes it as room frees.
      if (this.over || (this.inBody && this.received + this.heldBytes() === this.size)) return;
      const what = this.inBody ? `after ${this.received} of ${this.size} bytes` : 'before the response head';
      this.fail(Object.assign(new Error(`premature close of ${url.host}'s answer ${what}`), { code: 'ECONNRESET' }));
    });
  }

  /** Send the body into `sink`, from what was read with the head on. */
  pipe(sink: BodySink): void {
    this.sink = sink;
    if (this.failure) return sink.error(this.failure);
    if (this.size === 0) return this.finish();
    this.resume();
  }

  /** The sink has room again. */
  resume(): void {
    if (!this.sink || this.over) return;
    while (this.held.length) {
      const chunk = this.held[0]!;
      const taken = this.copyIn(chunk);
      if (taken < chunk.length) {
        this.held[0] = chunk.subarray(taken);
        return;
      }
      this.held.shift();
    }
    if (this.received === this.size) return this.finish();
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  destroy(): void {
    this.over = true;
    this.socket.destroy();
  }

  private nextBuffer(): Uint8Array {
    if (this.inBody && this.sink && !this.paused) this.view = this.sink.space() ?? this.headBuf;
    else if (!this.inBody) this.view = this.headBuf.subarray(this.headLen);
    else this.view = this.headBuf;
    return this.view;
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    if (this.over) return false;
    try {
      return this.inBody ? this.onBody(n, buf) : this.onHead(n);
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
  }

  /** The socket keeps what it has (reading stops when onread's callback answers false) until `resume`. */
  private pause(): false {
    this.paused = true;
    return false;
  }

  private onHead(n: number): boolean {
    this.headLen += n;
    const end = this.headBuf.subarray(0, this.headLen).indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.headLen === MAX_HEAD)
        throw new Error(`response head from ${this.url.host} larger than ${MAX_HEAD} bytes`);
      return true;
    }
    const head = parseHead(this.headBuf.subarray(0, end));
    const location = head.headers.get('location')?.[0];
    if (head.status >= 300 && head.status < 400 && location !== undefined) {
      this.destroy();
      this.settle({ status: head.status, location });
      return false;
    }
    const size = plainLength(head);
    if (size === undefined) {
      this.destroy();
      this.settle({ status: head.status });
      return false;
    }
    this.size = size;
    this.inBody = true;
    const rest = this.headBuf.subarray(end + 4, this.headLen);
    if (rest.length) this.held.push(Buffer.from(rest.subarray(0, size)));
    // Reading waits until a sink takes the body.
    this.settle({ body: this });
    return this.pause();
  }

  private onBody(n: number, buf: Uint8Array): boolean {
    // Bytes past the promised length are not the body's.
    const wanted = Math.min(n, this.size - this.received - this.heldBytes());
    if (buf === this.view && buf !== this.headBuf) {
      this.received += wanted;
      this.sink!.written(wanted);
    } else {
      // Read into the spare memory (while the sink had no room): copied out, as it is read into again.
      this.held.push(Buffer.from(buf.subarray(0, wanted)));
      this.resume();
    }
    if (this.received === this.size) {
      this.finish();
      return false;
    }
    return this.held.length ? this.pause() : true;
  }

  /** Copy what fits of `chunk` into the sink's memory; the bytes taken. */
  private copyIn(chunk: Buffer): number {
    let taken = 0;
    while (taken < chunk.length) {
      const room = this.sink!.space();
      if (!room || !room.length) break;
      const n = Math.min(room.length, chunk.length - taken);
      room.set(chunk.subarray(taken, taken + n));
      taken += n;
      this.received += n;
      this.sink!.written(n);
    }
    return taken;
  }

  private heldBytes(): number {
    return this.held.reduce((n, c) => n + c.length, 0);
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.socket.destroy();
    this.sink!.end();
  }

  private fail(err: Error): void {
    if (this.over) return;
    this.over = true;
    this.failure = err;
    this.socket.destroy();
    // Before the head, the answer fails; after it, whoever takes the body hears of it.
    if (this.sink) this.sink.error(err);
    else this.reject(err);
  }
}
