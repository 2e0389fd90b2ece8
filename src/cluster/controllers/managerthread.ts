/**
 * The parent's side of managerworker: start an elected part on a worker thread, read its metrics
 * (appended to the process's own on a scrape), stop it. A worker that dies is logged and started again.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../common/log.js';
import type { ClientOptions } from '../client/client.js';

export interface ManagerThreadData {
  /** Plain options only: they cross to the worker by structured clone. */
  client: ClientOptions;
  identity: string;
  lease: string;
  scheduler: boolean;
  controllers: string[];
  loggerName: string;
}

export type ToManagerThread = { type: 'metrics'; id: number } | { type: 'stop' };
export type FromManagerThread = { type: 'metrics'; id: number; text: string } | { type: 'stopped' };

const STOP_GRACE_MS = 5000;
const here = fileURLToPath(import.meta.url);
/** The worker's file beside this one: `.js` when built, `.ts` when run from source under tsx. */
const WORKER = path.join(path.dirname(here), `managerworker${path.extname(here)}`);

function spawn(data: ManagerThreadData): Worker {
  if (!WORKER.endsWith('.ts')) return new Worker(WORKER, { workerData: data });
  // Node 20 does not carry the parent's `--import` loader hooks into worker threads.
  const url = JSON.stringify(pathToFileURL(WORKER).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${url}); });`, {
    eval: true,
    workerData: data,
  });
}

export interface ManagerThread {
  /** The worker's metrics in the text exposition format ('' while it is being restarted). */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export function startManagerThread(data: ManagerThreadData, logger: Logger): ManagerThread {
  let worker: Worker;
  let alive = false;
  let stopping = false;
  let nextId = 0;
  const pending = new Map<number, (text: string) => void>();
  let stopped: (() => void) | undefined;
  const start = (): void => {
    worker = spawn(data);
    alive = true;
    worker.on('message', (m: FromManagerThread) => {
      if (m.type === 'metrics') {
        pending.get(m.id)?.(m.text);
        pending.delete(m.id);
      } else stopped?.();
    });
    worker.on('error', (err) => logger.error({ err: String(err), lease: data.lease }, 'control-plane thread failed'));
    worker.on('exit', () => {
      alive = false;
      for (const answer of pending.values()) answer('');
      pending.clear();
      if (stopping) stopped?.();
      else setTimeout(start, 1000).unref();
    });
  };
  start();
  return {
    metrics() {
      if (!alive) return Promise.resolve('');
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        worker.postMessage({ type: 'metrics', id } satisfies ToManagerThread);
      });
    },
    async stop() {
      stopping = true;
      if (!alive) return;
      // The lease handed back if the worker manages within a few seconds; terminated in any case.
      await new Promise<void>((resolve) => {
        stopped = resolve;
        setTimeout(resolve, STOP_GRACE_MS).unref();
        worker.postMessage({ type: 'stop' } satisfies ToManagerThread);
      });
      await worker.terminate();
    },
  };
}
