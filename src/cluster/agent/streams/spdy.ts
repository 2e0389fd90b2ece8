/**
 * The server side of SPDY/3.1 as Kubernetes' clients speak it (moby/spdystream under client-go): the
 * framing, a stream per SYN_STREAM with its headers, SYN_REPLY, DATA with FIN, RST_STREAM, PING echo
 * and GOAWAY. Kubernetes' streams carry only their own headers (`streamType`, `port`, `requestID`), not
 * HTTP's, and spdystream does no flow control, so neither is asked for here (the npm SPDY libraries
 * insist on HTTP request headers and are left out for that).
 *
 * Header blocks are zlib with SPDY's dictionary, one compression context per direction. What the
 * client sends is inflated in order; replies carry no headers and are written as stored (uncompressed)
 * deflate blocks, valid in any context, so replying never waits.
 */
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import type { Socket } from 'node:net';

const CONTROL = 0x80;
const VERSION = 3;
const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const FLAG_FIN = 0x01;
/** Frame payloads above this are refused (spdystream writes far smaller ones). */
const MAX_FRAME = 1 << 24;
const MAX_DATA_CHUNK = 256 * 1024;
const RST_CANCEL = 5;
/** Kubernetes' stream headers are a few short pairs; an inflated block past this is hostile. */
const MAX_HEADER_BLOCK = 64 * 1024;

const WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding',
  'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection',
  'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5',
  'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host', 'if-match',
  'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location',
  'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'retry-after',
  'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie',
  'keep-alive', 'origin',
]; // prettier-ignore
const TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** SPDY/3's header compression dictionary (the spec's, section 2.6.10.1). */
export const SPDY_DICTIONARY = Buffer.concat([
  ...WORDS.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length, 0);
    b.write(w, 4, 'latin1');
    return b;
  }),
  Buffer.from(TAIL, 'latin1'),
]);

export function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * A header block of no headers: the zlib header (first block only), a stored deflate block of the four
 * zero bytes, and the empty stored block a sync flush ends with — without it Go's inflater reads on
 * past the frame for the next block and fails the connection.
 */
function emptyHeaderBlock(first: boolean): Buffer {
  const stored = Buffer.from([0x00, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xff, 0xff]);
  if (!first) return stored;
  // CMF 0x78 (deflate, 32K window); FLG with FDICT and a check making CMF*256+FLG a multiple of 31.
  const flg = 0x20 + (31 - ((0x78 * 256 + 0x20) % 31));
  const id = Buffer.alloc(4);
  id.writeUInt32BE(adler32(SPDY_DICTIONARY), 0);
  return Buffer.concat([Buffer.from([0x78, flg]), id, stored]);
}

/** The name/value pairs of an inflated header block (names lowercase; several values joined by NUL). */
export function parseHeaderBlock(block: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  const take = (): string => {
    if (at + 4 > block.length) throw new Error('truncated SPDY header block');
    const n = block.readUInt32BE(at);
    if (at + 4 + n > block.length) throw new Error('truncated SPDY header block');
    const s = block.toString('utf8', at + 4, at + 4 + n);
    at += 4 + n;
    return s;
  };
  if (block.length < 4) throw new Error('truncated SPDY header block');
  const pairs = block.readUInt32BE(0);
  at = 4;
  for (let i = 0; i < pairs; i++) {
    const name = take().toLowerCase();
    out[name] = take();
  }
  return out;
}

/** One stream: a Duplex whose writes become DATA frames and whose end is a FIN. */
export class SpdyStream extends Duplex {
  constructor(
    readonly id: number,
    readonly headers: Record<string, string>,
    private readonly conn: SpdyConnection,
  ) {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    this.conn.resume();
  }

  override _write(chunk: Buffer, _e: BufferEncoding, done: (err?: Error | null) => void): void {
    this.conn.sendData(this.id, chunk, false, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.conn.sendData(this.id, Buffer.alloc(0), true, done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.conn.forget(this.id, !this.writableFinished || !this.readableEnded);
    done(err);
  }
}

interface Frame {
  control: boolean;
  type: number;
  id: number;
  flags: number;
  payload: Buffer;
}

/**
 * A SPDY/3.1 server connection over an upgraded socket: `onStream` is called for each stream the client
 * opens, after its SYN_REPLY is written (so the client may use it at once).
 */
export class SpdyConnection {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly queue: Frame[] = [];
  private draining = false;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly inflater = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  private replied = false;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly onStream: (s: SpdyStream) => void,
  ) {
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('close', () => this.close());
    socket.on('error', () => this.close());
    this.inflater.on('error', () => this.close());
  }

  /** End every stream and the connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) s.destroy();
    this.streams.clear();
    this.inflater.close();
    this.socket.destroy();
  }

  onClose(fn: () => void): void {
    this.socket.once('close', fn);
  }

  resume(): void {
    if (this.socket.isPaused()) this.socket.resume();
  }

  sendData(id: number, data: Buffer, fin: boolean, done: (err?: Error | null) => void): void {
    if (this.closed) return done(new Error('SPDY connection closed'));
    let at = 0;
    do {
      const chunk = data.subarray(at, at + MAX_DATA_CHUNK);
      at += chunk.length;
      const last = at >= data.length;
      const head = Buffer.alloc(8);
      head.writeUInt32BE(id & 0x7fffffff, 0);
      head.writeUInt32BE(((last && fin ? FLAG_FIN : 0) << 24) | chunk.length, 4);
      this.socket.write(Buffer.concat([head, chunk]), last ? (err) => done(err ?? null) : undefined);
    } while (at < data.length);
  }

  /** Forget a stream; one not finished both ways is reset, so the client stops waiting on it. */
  forget(id: number, reset: boolean): void {
    if (!this.streams.delete(id) || !reset || this.closed) return;
    const body = Buffer.alloc(8);
    body.writeUInt32BE(id & 0x7fffffff, 0);
    body.writeUInt32BE(RST_CANCEL, 4);
    this.writeControl(RST_STREAM, 0, body);
  }

  private writeControl(type: number, flags: number, body: Buffer): void {
    const head = Buffer.alloc(8);
    head.writeUInt16BE(0x8000 | VERSION, 0);
    head.writeUInt16BE(type, 2);
    head.writeUInt32BE((flags << 24) | body.length, 4);
    this.socket.write(Buffer.concat([head, body]));
  }

  private receive(d: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, d]) : d;
    while (this.buffered.length >= 8) {
      const length = this.buffered.readUInt32BE(4) & 0xffffff;
      if (length > MAX_FRAME) return this.close();
      if (this.buffered.length < 8 + length) break;
      const control = (this.buffered[0]! & CONTROL) !== 0;
      this.queue.push({
        control,
        type: control ? this.buffered.readUInt16BE(2) : 0,
        id: control ? 0 : this.buffered.readUInt32BE(0) & 0x7fffffff,
        flags: this.buffered[4]!,
        payload: this.buffered.subarray(8, 8 + length),
      });
      this.buffered = this.buffered.subarray(8 + length);
    }
    void this.drain();
  }

  /** Frames in order; only a SYN_STREAM waits (for its headers to inflate). */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let f = this.queue.shift(); f && !this.closed; f = this.queue.shift()) {
        if (!f.control) this.data(f);
        else if (f.type === SYN_STREAM) await this.synStream(f);
        else if (f.type === RST_STREAM && f.payload.length >= 4)
          this.streams.get(f.payload.readUInt32BE(0) & 0x7fffffff)?.destroy();
        else if (f.type === PING) this.writeControl(PING, 0, f.payload);
        else if (f.type === GOAWAY) this.close();
        // SETTINGS, WINDOW_UPDATE, HEADERS: spdystream's flow control is none, and no headers follow.
      }
    } catch {
      this.close();
    } finally {
      this.draining = false;
    }
  }

  private data(f: Frame): void {
    const s = this.streams.get(f.id);
    if (!s) return;
    if (f.payload.length && !s.push(f.payload)) this.socket.pause();
    if (f.flags & FLAG_FIN) s.push(null);
  }

  private async synStream(f: Frame): Promise<void> {
    if (f.payload.length < 10) throw new Error('short SYN_STREAM');
    const id = f.payload.readUInt32BE(0) & 0x7fffffff;
    const headers = parseHeaderBlock(await this.inflate(f.payload.subarray(10)));
    const stream = new SpdyStream(id, headers, this);
    this.streams.set(id, stream);
    const reply = Buffer.concat([Buffer.alloc(4), emptyHeaderBlock(!this.replied)]);
    reply.writeUInt32BE(id, 0);
    this.replied = true;
    this.writeControl(SYN_REPLY, 0, reply);
    if (f.flags & FLAG_FIN) stream.push(null);
    this.onStream(stream);
  }

  private inflate(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      let size = 0;
      // A small block may inflate to gigabytes: past the limit the connection is dropped.
      const take = (c: Buffer): void => {
        size += c.length;
        out.push(c);
        if (size <= MAX_HEADER_BLOCK) return;
        this.inflater.off('data', take);
        reject(new Error('SPDY header block too large'));
        this.close();
      };
      this.inflater.on('data', take);
      this.inflater.write(block);
      this.inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.inflater.off('data', take);
        if (this.closed) reject(new Error('SPDY connection closed'));
        else resolve(Buffer.concat(out));
      });
    });
  }
}
