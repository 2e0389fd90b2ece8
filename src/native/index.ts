/**
 * Bindings to native/gantry_native.c, built by node-gyp when `npm ci` runs (binding.gyp at the root).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** An unpacker's handle (a native external). */
export type LayerUnpacker = { readonly __layerUnpacker: unique symbol };
/** A blob sink's handle (a native external). */
export type BlobSink = { readonly __blobSink: unique symbol };

/** What native/layer.c throws: `reason` says which check failed; `code` and `rel` are set for an entry's errno. */
export interface LayerFailure extends Error {
  reason: 'entry' | 'escape' | 'whiteout' | 'entries' | 'bytes' | 'tar' | 'gzip';
  code?: string;
  rel?: string;
}

interface NativeModule {
  /** Connect to a SOCK_SEQPACKET socket; returns a stream fd carrying [u32 length][packet] frames. */
  seqpacketRelay(path: string): number;
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount2(target: string, flags: number): void;
  /**
   * Create a veth pair: `hostVeth` on `bridge` (in hairpin mode) and up; `peer` (with `mac`) inside the namespace of
   * `pid`, reached through `netnsPath`, with `address/prefix` and, unless `gateway` is empty, a default
   * route; both ends get `mtu` unless it is 0.
   */
  vethAttach(
    pid: number,
    netnsPath: string,
    hostVeth: string,
    peer: string,
    mac: string,
    bridge: string,
    address: string,
    prefix: number,
    gateway: string,
    mtu: number,
  ): void;
  /** native/portforward.c: a connected (or connecting) TCP socket to 127.0.0.1:port inside a network namespace. */
  connectInNetns(netnsPath: string, port: number): number;
  // native/confined.c: paths resolved beneath a root fd with openat2 (see common/confined.ts).
  applyEntry(
    rootFd: number,
    rel: string,
    resolve: number,
    kind: number,
    mode: number,
    uid: number,
    gid: number,
    mtimeMs: number,
    payload: Buffer | string | undefined,
    devMajor: number,
    devMinor: number,
    xattrs: Array<string | Buffer> | undefined,
    flags: number,
  ): number;
  finishFile(
    fd: number,
    mode: number,
    uid: number,
    gid: number,
    chown: boolean,
    mtimeMs: number,
    xattrs: Array<string | Buffer> | undefined,
  ): void;
  openBeneath(rootFd: number, rel: string, resolve: number, flags: number, mode: number): number;
  mkdirAll(rootFd: number, rel: string, resolve: number, mode: number): void;
  removeBeneath(rootFd: number, rel: string, resolve: number): void;
  utimesBeneath(rootFd: number, rel: string, resolve: number, mtimeMs: number): void;
  /** Close an fd opened by the confined functions (no warning on worker threads, as fs.closeSync gives). */
  closeFd(fd: number): void;
  readFileBeneath(rootFd: number, rel: string, resolve: number, maxBytes: number): Buffer | null;
  // native/layer.c: an image layer inflated, hashed and unpacked beneath a root in one pass (see diff/layer.ts).
  layerUnpacker(rootFd: number, resolve: number, gzip: boolean, maxBytes: number, maxEntries: number): LayerUnpacker;
  /** Throws a `LayerFailure` (the first failure, again on every later call). */
  layerWrite(unpacker: LayerUnpacker, chunk: Buffer): void;
  layerEnd(unpacker: LayerUnpacker): { diffId: string; size: number; entries: number };
  layerClose(unpacker: LayerUnpacker): void;
  // native/blob.c: a blob hashed and written to `fd` (the caller's) in batches on libuv's threadpool, one
  // batch at a time (`done` is called before the next may be given), synced every 16 MiB as it grows.
  blobSink(fd: number): BlobSink;
  blobWrite(sink: BlobSink, chunks: Buffer[], done: (err: Error | null) => void): void;
  blobEnd(sink: BlobSink): { digest: string; size: number };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// src/native or dist/native: the build output is two levels up either way.
export const native = require(path.resolve(here, '../../build/Release/gantry_native.node')) as NativeModule;

export const MNT_DETACH = 2;
