/**
 * Bindings to native/gantry_native.c, built by node-gyp when `npm ci` runs (binding.gyp at the root).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface NativeModule {
  /** Connect to a SOCK_SEQPACKET socket; returns a stream fd carrying [u32 length][packet] frames. */
  seqpacketRelay(path: string): number;
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount2(target: string, flags: number): void;
  /**
   * Create a veth pair: `hostVeth` on `bridge` and up; `peer` (with `mac`) inside the namespace of
   * `pid`, reached through `netnsPath`, with `address/prefix` and, unless `gateway` is empty, a default route.
   */
  vethAttach(pid: number, netnsPath: string, hostVeth: string, peer: string, mac: string, bridge: string, address: string, prefix: number, gateway: string): void;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// src/native or dist/native: the build output is two levels up either way.
export const native = require(path.resolve(here, '../../build/Release/gantry_native.node')) as NativeModule;

export const MNT_DETACH = 2;
