/**
 * Where a build step's result goes and is found again: each step is recorded as an intermediate image
 * (config-only steps with an empty history layer), and the cache maps (previous image, instruction as
 * expanded, the checksum of COPY/ADD sources) to the image it produced, in <dataRoot>/build/cache.json;
 * a `--cache-from` image's layers may stand in for a step too.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { readJson, writeJsonAtomic } from '../common/fsutil.js';
import type { Descriptor, ImageConfig } from '../images/oci.js';
import { cachedLayer, stepsSinceLastLayer, type CacheSource } from './cachefrom.js';
import { DEFAULT_SHELL, type BuilderDeps, type BuildOptions, type State } from './types.js';

export class StepImages {
  private cache: Record<string, string> | undefined;

  constructor(private readonly d: BuilderDeps) {}

  private get cacheFile(): string {
    return path.join(this.d.dataRoot, 'build', 'cache.json');
  }

  private async loadCache(): Promise<Record<string, string>> {
    this.cache ??= (await readJson<Record<string, string>>(this.cacheFile)) ?? {};
    return this.cache;
  }

  async remember(key: string, imageId: string): Promise<void> {
    const cache = await this.loadCache();
    cache[key] = imageId;
    await writeJsonAtomic(this.cacheFile, cache);
  }

  /** Empties the cache; answers the images it named. */
  async forget(): Promise<string[]> {
    const ids = [...new Set(Object.values(await this.loadCache()))];
    this.cache = {};
    await writeJsonAtomic(this.cacheFile, {});
    return ids;
  }

  /** Each build's `--cache-from` images, resolved at their first use. */
  private readonly cacheSources = new WeakMap<BuildOptions, CacheSource[]>();

  cacheKey(state: State, ...parts: string[]): string {
    return createHash('sha256')
      .update(JSON.stringify([state.imageId ?? 'scratch', ...parts]))
      .digest('hex');
  }

  /** A step's layer taken from a `--cache-from` image, committed on top of `state`. */
  async fromCacheSources(state: State, createdBy: string, o: BuildOptions): Promise<State | undefined> {
    if (o.noCache || !o.cacheFrom?.length) return undefined;
    let sources = this.cacheSources.get(o);
    if (!sources) {
      sources = [];
      for (const ref of o.cacheFrom) {
        // As the classic builder: an image that is not here is skipped, not pulled.
        const rec = this.d.images.tryResolve(ref);
        if (!rec) continue;
        const config = await this.d.images.config(rec);
        sources.push({ diffIds: config.rootfs.diff_ids, layers: rec.layers, history: config.history ?? [] });
      }
      this.cacheSources.set(o, sources);
    }
    const layer = cachedLayer(
      sources,
      state.config.rootfs.diff_ids,
      stepsSinceLastLayer(state.config.history ?? []),
      createdBy,
    );
    if (!layer) return undefined;
    o.output({ stream: ' ---> Using cache\n' });
    return this.commitLayer(state, layer, createdBy);
  }

  async cached(key: string, o: BuildOptions, layers: Descriptor[] | undefined): Promise<State | undefined> {
    if (o.noCache) return undefined;
    const id = (await this.loadCache())[key];
    const rec = id ? this.d.images.tryResolve(id) : undefined;
    if (!rec) return undefined;
    if (layers && rec.layers.length !== layers.length) return undefined;
    o.output({ stream: ' ---> Using cache\n' });
    return {
      imageId: rec.id,
      config: await this.d.images.config(rec),
      layers: rec.layers,
      args: {},
      shell: DEFAULT_SHELL,
    };
  }

  /** Record a config-only step (no layer) as an intermediate image. */
  async commitConfig(
    state: State,
    config: ImageConfig,
    createdBy: string | undefined,
    intermediate = true,
  ): Promise<State> {
    const now = new Date().toISOString();
    const history = createdBy
      ? [...(config.history ?? []), { created: now, created_by: createdBy, empty_layer: true }]
      : config.history;
    const next: ImageConfig = { ...config, created: now, history };
    const rec = await this.d.images.createImage(next, state.layers, { intermediate });
    return { ...state, imageId: rec.id, config: next };
  }

  /** Record a step that adds a layer. */
  async commitLayer(state: State, layer: { desc: Descriptor; diffId: string }, createdBy: string): Promise<State> {
    const now = new Date().toISOString();
    const next: ImageConfig = {
      ...state.config,
      created: now,
      rootfs: { type: 'layers', diff_ids: [...state.config.rootfs.diff_ids, layer.diffId] },
      history: [...(state.config.history ?? []), { created: now, created_by: createdBy }],
    };
    const layers = [...state.layers, layer.desc];
    const rec = await this.d.images.createImage(next, layers, { intermediate: true });
    return { ...state, imageId: rec.id, config: next, layers };
  }
}
