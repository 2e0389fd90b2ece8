/**
 * Connection to a conmon attach socket. conmon's socket is SOCK_SEQPACKET; the native relay turns it
 * into a stream of [u32 length][packet] frames. Each packet from conmon is one byte naming the pipe
 * (2 stdout, 3 stderr) followed by the bytes; what is written here goes to the process's stdin.
 */
import net from 'node:net';
import { native } from '../native/index.js';

export interface AttachConnection {
  onOutput(fn: (stream: 'stdout' | 'stderr', data: Buffer) => void): void;
  onClose(fn: () => void): void;
  write(data: Buffer): void;
  /** Close stdin (half-close): the process reads EOF. */
  endInput(): void;
  destroy(): void;
}

export function connectAttach(socketPath: string): AttachConnection {
  const fd = native.seqpacketRelay(socketPath);
  const sock = new net.Socket({ fd, readable: true, writable: true });
  let outFn: (stream: 'stdout' | 'stderr', data: Buffer) => void = () => undefined;
  let buf: Buffer = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      const pkt = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      if (pkt[0] === 2) outFn('stdout', Buffer.from(pkt.subarray(1)));
      else if (pkt[0] === 3) outFn('stderr', Buffer.from(pkt.subarray(1)));
    }
  });
  sock.on('error', () => undefined);
  return {
    onOutput: (fn) => {
      outFn = fn;
    },
    onClose: (fn) => {
      sock.on('close', fn);
    },
    write: (d) => {
      if (!sock.destroyed) sock.write(d);
    },
    endInput: () => {
      if (!sock.destroyed) sock.end();
    },
    destroy: () => sock.destroy(),
  };
}
