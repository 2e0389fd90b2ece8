/**
 * The object an admission default comes from (the default StorageClass, IngressClass), read from
 * storage at most once a second per kind: creates are hot, and an informer would lag as much.
 */
import type { KObject } from '../objects.js';
import { storageKey } from '../resources.js';
import type { RegistryContext } from './strategy.js';

const cache = new Map<string, { at: number; value: Promise<KObject[]> }>();

export async function findDefault(
  ctx: RegistryContext,
  plural: string,
  isDefault: (o: KObject) => boolean,
): Promise<KObject[]> {
  let hit = cache.get(plural);
  if (!hit || Date.now() - hit.at > 1000) {
    hit = {
      at: Date.now(),
      value: ctx.storage
        .list(storageKey(ctx.resource(plural), undefined))
        .then(({ kvs }) => kvs.map((kv) => JSON.parse(kv.value.toString()) as KObject)),
    };
    cache.set(plural, hit);
  }
  return (await hit.value).filter(isDefault);
}
