/** Shared benchmark plumbing: timing, medians, processes on loopback, printing side-by-side ratios. */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';

export async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function sh(cmd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Run a command; answers its stdout when `stdout` is set; a failure carries its stderr. */
function run(cmd: string, args: string[], env: Record<string, string>, stdout: boolean, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', stdout ? 'pipe' : 'ignore', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${what} failed: ${err}`))));
  });
}

export async function shAsync(cmd: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  await run(cmd, args, env, false, `${cmd} ${args.join(' ')}`);
}

/** CPU time (user and system) a process has used so far, in seconds, from /proc (clock ticks of 1/100 s). */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `shAsync` that answers the CPU time (user and system, in seconds) the command used, as bash's `times` reports it. */
export async function shAsyncCpu(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const out = await run(
    'bash',
    ['-c', '"$@" >/dev/null && times', 'bash', cmd, ...args],
    env,
    true,
    `${cmd} ${args.join(' ')}`,
  );
  // Second line: the children's user and system time, e.g. "0m0.520s 0m0.230s".
  const children = out.trim().split('\n')[1] ?? '';
  return [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
}

export function row(name: string, gantryMs: number, peerName: string, peerMs: number, bytes?: number): void {
  const mbps = (ms: number): string => (bytes ? ` (${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s)` : '');
  const ratio = peerMs / gantryMs;
  process.stdout.write(
    `${name.padEnd(34)} gantry ${gantryMs.toFixed(0).padStart(6)} ms${mbps(gantryMs)}   ${peerName} ${peerMs.toFixed(0).padStart(6)} ms${mbps(peerMs)}   ratio ${ratio.toFixed(2)} (peer time / gantry time; >1 means gantry is faster)\n`,
  );
}

/** One Engine API call over a daemon's unix socket; answers the parsed JSON body (undefined when empty). */
export function engineApi(sock: string, method: string, p: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath: sock,
        method,
        path: `/v1.44${p}`,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {},
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text ? JSON.parse(text) : undefined));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** An API server reached with a bearer token. */
export interface ApiTarget {
  base: string;
  token: string;
  agent: https.Agent;
}

/** One API call; answers status and body text. */
export function apiCall(
  t: ApiTarget,
  method: string,
  p: string,
  body?: unknown,
): Promise<{ code: number; text: string }> {
  const type = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${t.base}${p}`,
      {
        method,
        agent: t.agent,
        rejectUnauthorized: false,
        headers: {
          Authorization: `Bearer ${t.token}`,
          'Content-Type': type,
          ...(data ? { 'Content-Length': Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Run `n` operations 16 at a time; answers ops/s and the p99 latency in ms. */
export async function measureConcurrent(
  n: number,
  op: (i: number) => Promise<unknown>,
): Promise<{ rate: number; p99: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        await op(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const total = performance.now() - t0;
  lat.sort((a, b) => a - b);
  return { rate: (n / total) * 1000, p99: lat[Math.floor(lat.length * 0.99)] ?? 0 };
}
