/**
 * Basic auth against an htpasswd file of bcrypt entries, as the distribution registry's `htpasswd`
 * auth does. bcrypt is slow on purpose (tens of milliseconds a check), so it runs on a worker thread,
 * never on the event loop; and since clients send their credentials with every request, a successful
 * check is remembered for a few minutes (by a hash of the credentials, never the password itself).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcrypt);
parentPort.on('message', ({ id, password, hash }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(password, hash); } catch { ok = false; }
  parentPort.postMessage({ id, ok });
});
`;

const REMEMBER_MS = 5 * 60_000;
const REMEMBER_MAX = 1000;

export class Htpasswd {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, (ok: boolean) => void>();
  private nextId = 0;
  private readonly remembered = new Map<string, number>();

  private constructor(private readonly users: Map<string, string>) {}

  static async load(file: string): Promise<Htpasswd> {
    const users = new Map<string, string>();
    for (const line of (await fs.readFile(file, 'utf8')).split('\n')) {
      const i = line.indexOf(':');
      // Go's bcrypt writes $2y$, which bcryptjs reads as $2a$ (the same algorithm).
      if (i > 0)
        users.set(
          line.slice(0, i).trim(),
          line
            .slice(i + 1)
            .trim()
            .replace(/^\$2y\$/, '$2a$'),
        );
    }
    return new Htpasswd(users);
  }

  /** Is `authorization` (an HTTP Authorization header) a user of the file with the right password? */
  async check(authorization: string | undefined): Promise<boolean> {
    if (!authorization?.startsWith('Basic ')) return false;
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return false;
    const hash = this.users.get(decoded.slice(0, i));
    if (!hash) return false;
    const key = createHash('sha256').update(`${decoded}\0${hash}`).digest('hex');
    const until = this.remembered.get(key);
    if (until !== undefined && until > Date.now()) return true;
    const ok = await this.compare(decoded.slice(i + 1), hash);
    if (ok) {
      if (this.remembered.size >= REMEMBER_MAX) this.remembered.delete(this.remembered.keys().next().value!);
      this.remembered.set(key, Date.now() + REMEMBER_MS);
    }
    return ok;
  }

  private compare(password: string, hash: string): Promise<boolean> {
    if (!this.worker) {
      this.worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { bcrypt: createRequire(import.meta.url).resolve('bcryptjs') },
      });
      this.worker.unref();
      this.worker.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
        this.pending.get(id)?.(ok);
        this.pending.delete(id);
      });
      this.worker.on('error', () => {
        for (const resolve of this.pending.values()) resolve(false);
        this.pending.clear();
        this.worker = undefined;
      });
    }
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker!.postMessage({ id, password, hash });
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}
