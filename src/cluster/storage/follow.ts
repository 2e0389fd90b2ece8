/**
 * Keep an in-memory view of every key under a prefix: each stored value is handed over once, then every
 * change as it is committed (undefined for a deletion). When the watch can no longer follow (history
 * compacted), the view is reset and loaded again. The API server's authorizer and its set of custom
 * resources are kept this way.
 */
import type { Logger } from '../../common/log.js';
import type { Storage, Watch } from './types.js';

export async function followPrefix(
  storage: Storage,
  prefix: string,
  view: { reset(): void; observe(key: string, value: Buffer | undefined): void },
  logger: Logger,
): Promise<void> {
  const list = await storage.list(prefix);
  view.reset();
  for (const kv of list.kvs) view.observe(kv.key, kv.value);
  const watch: Watch = storage.watch(
    prefix,
    list.revision,
    (e) => view.observe(e.kv.key, e.type === 'delete' ? undefined : e.kv.value),
    (err) => {
      logger.warn({ err: err.message, prefix }, 'watch ended; loading again');
      watch.cancel();
      void followPrefix(storage, prefix, view, logger);
    },
  );
}
