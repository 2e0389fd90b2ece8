/**
 * Each namespace's phase, kept in memory from a watch on storage, so creating an object need not read
 * its namespace from the datastore every time: Kubernetes' NamespaceLifecycle admission keeps the same
 * informer cache. A namespace missing from the view is looked up in storage, since one just created
 * may not have reached a watch that lags (etcd's).
 */
import type { Logger } from '../../common/log.js';
import { followPrefix } from '../storage/follow.js';
import type { Storage } from '../storage/types.js';
import { builtIn } from './registry/index.js';
import { storageKey } from './resources.js';

export class NamespacePhases {
  private readonly phases = new Map<string, string>();
  private readonly prefix = storageKey(builtIn('namespaces'), undefined);

  constructor(
    private readonly storage: Storage,
    private readonly logger: Logger,
  ) {}

  start(): Promise<void> {
    return followPrefix(this.storage, this.prefix, this, this.logger);
  }

  reset(): void {
    this.phases.clear();
  }

  observe(key: string, value: Buffer | undefined): void {
    const name = key.slice(this.prefix.length);
    if (!value) this.phases.delete(name);
    else this.phases.set(name, phaseOf(value));
  }

  /** `Active` or `Terminating`, or undefined when the namespace does not exist. */
  async phase(name: string): Promise<string | undefined> {
    const known = this.phases.get(name);
    if (known) return known;
    const kv = await this.storage.get(this.prefix + name);
    return kv ? phaseOf(kv.value) : undefined;
  }
}

function phaseOf(value: Buffer): string {
  const ns = JSON.parse(value.toString('utf8')) as { status?: { phase?: string } };
  return ns.status?.phase ?? 'Active';
}
