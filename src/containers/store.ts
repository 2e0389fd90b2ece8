/**
 * Container records on disk (`containers/<id>/config.v2.json`, written atomically) and in memory, with
 * Docker's name rules: unique `/name`, generated `adjective_surname` names, ID prefix lookup.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { conflict, invalid, notFound } from '../common/errors.js';
import { readJson, writeJsonAtomic } from '../common/fsutil.js';
import type { ContainerRecord } from './types.js';

const LEFT = [
  'admiring',
  'brave',
  'busy',
  'clever',
  'dreamy',
  'eager',
  'festive',
  'gifted',
  'happy',
  'jolly',
  'keen',
  'lucid',
  'modest',
  'nifty',
  'quirky',
  'serene',
  'sharp',
  'stoic',
  'vibrant',
  'zealous',
];
const RIGHT = [
  'albattani',
  'babbage',
  'curie',
  'darwin',
  'einstein',
  'feynman',
  'galileo',
  'hopper',
  'johnson',
  'kepler',
  'lovelace',
  'meitner',
  'newton',
  'noether',
  'pasteur',
  'ritchie',
  'shannon',
  'tesla',
  'turing',
  'wozniak',
];

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  /** IDs removed by this process: records are never saved again under them. */
  private readonly removed = new Set<string>();

  private constructor(readonly root: string) {}

  static async open(root: string): Promise<ContainerStore> {
    const s = new ContainerStore(root);
    await fs.mkdir(root, { recursive: true, mode: 0o710 });
    for (const id of await fs.readdir(root)) {
      const rec = await readJson<ContainerRecord>(path.join(root, id, 'config.v2.json'));
      if (rec) s.byId.set(rec.Id, rec);
    }
    return s;
  }

  dir(id: string): string {
    return path.join(this.root, id);
  }

  newId(): string {
    let id: string;
    do id = randomBytes(32).toString('hex');
    while (this.byId.has(id) || /^\d+$/.test(id.slice(0, 12)));
    return id;
  }

  /** Validate or generate a unique name. */
  allocateName(requested: string | undefined, id: string): string {
    if (requested) {
      if (!NAME_RE.test(requested))
        throw invalid(`Invalid container name (${requested}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      const name = requested.startsWith('/') ? requested : `/${requested}`;
      const holder = this.byName(name);
      if (holder && holder.Id !== id) {
        throw conflict(
          `Conflict. The container name "${name}" is already in use by container "${holder.Id}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      return name;
    }
    for (;;) {
      const name = `/${LEFT[randomBytes(1)[0]! % LEFT.length]}_${RIGHT[randomBytes(1)[0]! % RIGHT.length]}${randomBytes(1)[0]! % 10}`;
      if (!this.byName(name)) return name;
    }
  }

  byName(name: string): ContainerRecord | undefined {
    const n = name.startsWith('/') ? name : `/${name}`;
    for (const r of this.byId.values()) if (r.Name === n) return r;
    return undefined;
  }

  get(id: string): ContainerRecord | undefined {
    return this.byId.get(id);
  }

  list(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  /** Docker's lookup order: full ID, exact name, then unique ID prefix. */
  resolve(ref: string): ContainerRecord {
    const r = this.tryResolve(ref);
    if (!r) throw notFound(`No such container: ${ref}`);
    return r;
  }

  tryResolve(ref: string): ContainerRecord | undefined {
    if (!ref) return undefined;
    const full = this.byId.get(ref);
    if (full) return full;
    const named = this.byName(ref);
    if (named) return named;
    if (/^[a-f0-9]+$/.test(ref)) {
      const matches = [...this.byId.keys()].filter((id) => id.startsWith(ref));
      if (matches.length > 1) throw invalid(`multiple IDs found with provided prefix: ${ref}`);
      if (matches.length === 1) return this.byId.get(matches[0]!);
    }
    return undefined;
  }

  async save(rec: ContainerRecord): Promise<void> {
    // A late save (an exit or restart finishing while the container is removed) must not bring it back.
    if (this.removed.has(rec.Id)) return;
    await fs.mkdir(this.dir(rec.Id), { recursive: true, mode: 0o710 });
    await writeJsonAtomic(path.join(this.dir(rec.Id), 'config.v2.json'), rec);
    this.byId.set(rec.Id, rec);
  }

  async delete(id: string): Promise<void> {
    this.byId.delete(id);
    this.removed.add(id);
    // A write that was already under way can land while the directory is emptied: try again.
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.rm(this.dir(id), { recursive: true, force: true });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}
