/**
 * Docker's classic builder. Every instruction turns the stage's state (an image: config and layers)
 * into the next one, recorded as an intermediate image, so `history` has a line per instruction and the
 * cache can hand a step's result back: the cache maps (previous image, instruction as expanded, the
 * checksum of COPY/ADD sources) to the image it produced, in <dataRoot>/build/cache.json.
 *
 * RUN executes in a container of this engine (its network, its runtime) on the current image, and its
 * writable layer becomes the step's layer through the same path as `docker commit`. COPY and ADD pack
 * their files straight into a layer, with no container. Only the stages the target needs are built.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { GantryError, invalid } from '../common/errors.js';
import { readJson, writeJsonAtomic } from '../common/fsutil.js';
import type { Logger } from '../common/log.js';
import { addEntry } from '../diff/archive.js';
import type { ContainerService } from '../engine/containers/service.js';
import type { OutputChunk } from '../engine/containers/types.js';
import type { ImageService } from '../engine/images/service.js';
import { storeLayer } from '../engine/layers.js';
import type { ContainerConfig, Descriptor, HealthConfig, ImageConfig } from '../images/oci.js';
import { MNT_DETACH, native } from '../native/index.js';
import type { AuthConfig } from '../registry/auth.js';
import type { OverlaySnapshotter } from '../snapshots/store.js';
import { chainIds } from '../common/digest.js';
import { readImageFile } from '../runtime/user.js';
import { resolveInRoot } from '../containers/paths.js';
import { cachedLayer, stepsSinceLastLayer, type CacheSource } from './cachefrom.js';
import { download, isArchive, isDir, packArchive, packFile, packTree } from './copysources.js';
import { checksumSources, NOTHING_IGNORED, readContextFile, resolveSources, type FileDigests, type IgnoreMatcher, type Source } from './context.js';
import { expandWord, keyValues, parseDockerfile, processWords, type Instruction, type Stage } from './dockerfile.js';
import { crashPoint } from '../common/faults.js';

export interface BuildMessage {
  stream?: string;
  aux?: { ID: string };
  error?: string;
  errorDetail?: { code?: number; message: string };
}

export interface BuildOptions {
  contextDir: string;
  ignored: IgnoreMatcher;
  /** Digests of the context's files taken while unpacking it. */
  digests?: FileDigests;
  dockerfile: string;
  tags: string[];
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  networkMode?: string;
  /** `--add-host` entries for RUN steps (validated by the caller). */
  extraHosts?: string[];
  /** `--cache-from`: local images whose layers may stand in for RUN, COPY and ADD steps. */
  cacheFrom?: string[];
  auth: (registry: string) => AuthConfig | undefined;
  output: (msg: BuildMessage) => void;
}

export interface BuilderDeps {
  images: ImageService;
  containers: ContainerService;
  snapshots: OverlaySnapshotter;
  dataRoot: string;
  logger: Logger;
}

/** A stage's state between instructions. */
interface State {
  imageId?: string;
  config: ImageConfig;
  layers: Descriptor[];
  /** ARGs in scope and their values. */
  args: Record<string, string>;
  shell: string[];
  /** Whether this stage set CMD (an ENTRYPOINT after it keeps it). */
  cmdSet?: boolean;
}

/** Build arguments usable without an ARG instruction, as Docker predefines them. */
const PREDEFINED_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];
const DEFAULT_SHELL = ['/bin/sh', '-c'];
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

class StepError extends GantryError {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super('invalid', message);
  }
}

function envMap(env: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    out[i < 0 ? e : e.slice(0, i)] = i < 0 ? '' : e.slice(i + 1);
  }
  return out;
}

function setEnv(env: string[] | undefined, key: string, value: string): string[] {
  return [...(env ?? []).filter((e) => !e.startsWith(`${key}=`) && e !== key), `${key}=${value}`];
}

export class Builder {
  private cache: Record<string, string> | undefined;

  constructor(private readonly d: BuilderDeps) {}

  /** After a crash: RUN containers, contexts being built and read-only mounts of states are leftovers. */
  async recover(): Promise<void> {
    for (const c of this.d.containers.sorted()) {
      if (c.Config.Labels?.[BUILD_CONTAINER_LABEL] !== 'true') continue;
      await this.d.containers.remove(c.Id, { force: true, volumes: true }).catch((err: unknown) => this.d.logger.warn({ err: String(err), id: c.Id }, 'leftover build container not removed'));
    }
    const mnt = path.join(this.d.dataRoot, 'build', 'mnt');
    for (const name of await fs.readdir(mnt).catch(() => [] as string[])) {
      try {
        native.umount2(path.join(mnt, name), MNT_DETACH);
      } catch {
        // Not mounted.
      }
    }
    await fs.rm(mnt, { recursive: true, force: true });
    await fs.rm(path.join(this.d.dataRoot, 'build', 'contexts'), { recursive: true, force: true });
  }

  private get cacheFile(): string {
    return path.join(this.d.dataRoot, 'build', 'cache.json');
  }

  private async loadCache(): Promise<Record<string, string>> {
    this.cache ??= (await readJson<Record<string, string>>(this.cacheFile)) ?? {};
    return this.cache;
  }

  private async remember(key: string, imageId: string): Promise<void> {
    const cache = await this.loadCache();
    cache[key] = imageId;
    await writeJsonAtomic(this.cacheFile, cache);
  }

  /** `builder prune`: forget the cache and drop intermediate images nothing depends on. */
  async prune(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    const cache = await this.loadCache();
    const ids = [...new Set(Object.values(cache))];
    this.cache = {};
    await writeJsonAtomic(this.cacheFile, {});
    const deleted: string[] = [];
    for (const id of ids) {
      const rec = this.d.images.tryResolve(id);
      if (!rec?.intermediate) continue;
      try {
        await this.d.images.remove(id, false, true);
        deleted.push(id);
      } catch {
        // Used by a container, or tagged since: kept.
      }
    }
    const reclaimed = await this.d.images.gc();
    return { CachesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  async build(o: BuildOptions): Promise<string> {
    const dfPath = path.resolve(o.contextDir, o.dockerfile);
    if (!dfPath.startsWith(o.contextDir)) throw invalid(`the Dockerfile (${o.dockerfile}) must be within the build context`);
    const text = await readContextFile(o.contextDir, path.relative(o.contextDir, dfPath));
    if (text === undefined) throw invalid(`Cannot locate specified Dockerfile: ${o.dockerfile}`);
    const df = parseDockerfile(text);
    const escape = df.escape;
    // ARG before FROM: usable in FROM lines only.
    const globalArgs: Record<string, string> = {};
    for (const ins of df.globalArgs) {
      for (const [k, v] of keyValues(ins.args, globalArgs, escape, 'ARG', ins.line)) {
        const given = o.buildArgs[k];
        if (given !== undefined && given !== null) globalArgs[k] = given;
        else if (v !== undefined) globalArgs[k] = v;
      }
    }
    const wanted = o.target?.toLowerCase();
    const target = wanted ? df.stages.find((s) => s.name === wanted) : df.stages.at(-1);
    if (!target) throw invalid(`failed to reach build target ${o.target} in Dockerfile`);
    const needed = this.neededStages(df.stages, target, globalArgs, escape);
    const total = needed.reduce((n, s) => n + 1 + s.instructions.length, 0);
    const used = new Set<string>();
    const results = new Map<number, State>();
    let step = 0;
    for (const stage of needed) {
      step++;
      const base = expandWord(stage.base, globalArgs, escape);
      o.output({ stream: `Step ${step}/${total} : FROM ${base}${stage.name ? ` AS ${stage.name}` : ''}\n` });
      let state = await this.fromState(base, df.stages, results, o);
      state.args = {};
      o.output({ stream: ` ---> ${state.imageId ? state.imageId.replace(/^sha256:/, '').slice(0, 12) : 'scratch'}\n` });
      const triggers = state.config.config?.OnBuild ?? [];
      if (triggers.length) {
        // The base image's ONBUILD instructions run first; the new image does not inherit them.
        o.output({ stream: `# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n` });
        for (const trigger of triggers) {
          const [ins] = parseDockerfile(`FROM scratch\n${trigger}\n`).stages[0]!.instructions;
          state = await this.step(state, { ...ins!, line: stage.line }, escape, o, results, df.stages, used, globalArgs);
        }
        state = await this.commitConfig(state, { ...state.config, config: { ...state.config.config, OnBuild: null } }, undefined);
        o.output({ stream: ` ---> ${state.imageId!.replace(/^sha256:/, '').slice(0, 12)}\n` });
      }
      for (const ins of stage.instructions) {
        step++;
        o.output({ stream: `Step ${step}/${total} : ${ins.text}\n` });
        state = await this.step(state, ins, escape, o, results, df.stages, used, globalArgs);
        o.output({ stream: ` ---> ${state.imageId!.replace(/^sha256:/, '').slice(0, 12)}\n` });
      }
      results.set(stage.index, state);
    }
    let final = results.get(target.index)!;
    if (!final.imageId || Object.keys(o.labels).length) {
      final = await this.commitConfig(final, { ...final.config, config: { ...final.config.config, Labels: { ...final.config.config?.Labels, ...o.labels } } }, undefined, false);
    }
    const rec = await this.d.images.createImage(final.config, final.layers, { intermediate: false });
    const unused = Object.keys(o.buildArgs).filter((k) => !used.has(k) && !PREDEFINED_ARGS.includes(k) && !(k in globalArgs));
    if (unused.length) o.output({ stream: `[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n` });
    o.output({ aux: { ID: rec.id } });
    o.output({ stream: `Successfully built ${rec.id.replace(/^sha256:/, '').slice(0, 12)}\n` });
    for (const t of o.tags) {
      const at = t.lastIndexOf(':');
      const hasTag = at > t.lastIndexOf('/');
      await this.d.images.tag(rec.id, hasTag ? t.slice(0, at) : t, hasTag ? t.slice(at + 1) : undefined);
      o.output({ stream: `Successfully tagged ${hasTag ? t : `${t}:latest`}\n` });
    }
    return rec.id;
  }

  /** The target and the stages it depends on (FROM <stage>, COPY --from=<stage>), in file order. */
  private neededStages(stages: Stage[], target: Stage, globalArgs: Record<string, string>, escape: string): Stage[] {
    const byRef = (ref: string): Stage | undefined => stages.find((s) => s.name === ref.toLowerCase()) ?? (/^\d+$/.test(ref) ? stages[Number(ref)] : undefined);
    const need = new Set<number>();
    const visit = (s: Stage): void => {
      if (need.has(s.index)) return;
      need.add(s.index);
      const fromStage = byRef(expandWord(s.base, globalArgs, escape));
      if (fromStage && fromStage.index < s.index) visit(fromStage);
      for (const ins of s.instructions) {
        const from = ins.flags.from;
        if ((ins.keyword === 'COPY' || ins.keyword === 'ADD') && from !== undefined) {
          const dep = byRef(from);
          if (dep && dep.index < s.index) visit(dep);
        }
      }
    };
    visit(target);
    return stages.filter((s) => need.has(s.index) && s.index <= target.index);
  }

  private async imageState(ref: string, o: BuildOptions, pull: boolean): Promise<State> {
    let rec = pull ? undefined : this.d.images.tryResolve(ref);
    if (!rec) {
      const registry = ref.includes('/') && /[.:]|localhost/.test(ref.split('/')[0]!) ? ref.split('/')[0]! : 'docker.io';
      rec = await this.d.images.pull(ref, o.auth(registry), (m) => {
        if (m.status && !m.progressDetail?.total) o.output({ stream: `${m.id ? `${m.id}: ` : ''}${m.status}\n` });
      });
    }
    const config = await this.d.images.config(rec);
    return { imageId: rec.id, config, layers: rec.layers, args: {}, shell: DEFAULT_SHELL };
  }

  private async fromState(base: string, stages: Stage[], results: Map<number, State>, o: BuildOptions): Promise<State> {
    if (base === 'scratch') {
      return { config: { architecture: 'amd64', os: 'linux', config: { Env: [PATH_ENV] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] }, layers: [], args: {}, shell: DEFAULT_SHELL };
    }
    const stage = stages.find((s) => s.name === base.toLowerCase());
    if (stage) {
      const done = results.get(stage.index);
      if (!done) throw invalid(`stage ${base} is not built before it is used`);
      return { ...done, args: {} };
    }
    return this.imageState(base, o, o.pull);
  }

  /** The environment instructions expand with: ARGs in scope, then the image's ENV over them. */
  private expansionEnv(state: State): Record<string, string> {
    return { ...state.args, ...envMap(state.config.config?.Env) };
  }

  /** Each build's `--cache-from` images, resolved at their first use. */
  private readonly cacheSources = new WeakMap<BuildOptions, CacheSource[]>();

  private cacheKey(state: State, ...parts: string[]): string {
    return createHash('sha256').update(JSON.stringify([state.imageId ?? 'scratch', ...parts])).digest('hex');
  }

  /** A step's layer taken from a `--cache-from` image, committed on top of `state`. */
  private async fromCacheSources(state: State, createdBy: string, o: BuildOptions): Promise<State | undefined> {
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
    const layer = cachedLayer(sources, state.config.rootfs.diff_ids, stepsSinceLastLayer(state.config.history ?? []), createdBy);
    if (!layer) return undefined;
    o.output({ stream: ' ---> Using cache\n' });
    return this.commitLayer(state, layer, createdBy);
  }

  private async cached(key: string, o: BuildOptions, layers: Descriptor[] | undefined): Promise<State | undefined> {
    if (o.noCache) return undefined;
    const id = (await this.loadCache())[key];
    const rec = id ? this.d.images.tryResolve(id) : undefined;
    if (!rec) return undefined;
    if (layers && rec.layers.length !== layers.length) return undefined;
    o.output({ stream: ' ---> Using cache\n' });
    return { imageId: rec.id, config: await this.d.images.config(rec), layers: rec.layers, args: {}, shell: DEFAULT_SHELL };
  }

  /** Record a config-only step (no layer) as an intermediate image. */
  private async commitConfig(state: State, config: ImageConfig, createdBy: string | undefined, intermediate = true): Promise<State> {
    const now = new Date().toISOString();
    const history = createdBy ? [...(config.history ?? []), { created: now, created_by: createdBy, empty_layer: true }] : config.history;
    const next: ImageConfig = { ...config, created: now, history };
    const rec = await this.d.images.createImage(next, state.layers, { intermediate });
    return { ...state, imageId: rec.id, config: next };
  }

  /** Record a step that adds a layer. */
  private async commitLayer(state: State, layer: { desc: Descriptor; diffId: string }, createdBy: string): Promise<State> {
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

  private async step(state: State, ins: Instruction, escape: string, o: BuildOptions, results: Map<number, State>, stages: Stage[], used: Set<string>, globalArgs: Record<string, string>): Promise<State> {
    const env = this.expansionEnv(state);
    const cfg: ContainerConfig = { ...state.config.config };
    // Docker's history text for config-only steps: `/bin/sh -c #(nop)  CMD ["node" "app.js"]` (two spaces).
    const nop = (text: string): string => `${state.shell.join(' ')} #(nop)  ${text}`;
    // Config-only instructions: the cache key is the instruction as expanded.
    const configStep = async (text: string, change: (c: ContainerConfig) => void, extra: Partial<ImageConfig> = {}): Promise<State> => {
      const key = this.cacheKey(state, text, JSON.stringify(state.args));
      const hit = await this.cached(key, o, state.layers);
      if (hit) return { ...hit, args: state.args, shell: state.shell, cmdSet: state.cmdSet };
      change(cfg);
      const next = await this.commitConfig(state, { ...state.config, ...extra, config: cfg }, nop(text));
      await this.remember(key, next.imageId!);
      return next;
    };
    switch (ins.keyword) {
      case 'ENV': {
        const pairs = keyValues(ins.args, env, escape, 'ENV', ins.line);
        return configStep(`ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, (c) => {
          for (const [k, v] of pairs) c.Env = setEnv(c.Env, k, v ?? '');
        });
      }
      case 'LABEL': {
        const pairs = keyValues(ins.args, env, escape, 'LABEL', ins.line);
        return configStep(`LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, (c) => {
          c.Labels = { ...c.Labels };
          for (const [k, v] of pairs) c.Labels[k] = v ?? '';
        });
      }
      case 'MAINTAINER':
        return configStep(`MAINTAINER ${ins.args}`, () => undefined, { author: ins.args });
      case 'ARG': {
        const args = { ...state.args };
        for (const [k, v] of keyValues(ins.args, env, escape, 'ARG', ins.line)) {
          const given = o.buildArgs[k];
          used.add(k);
          args[k] = given !== undefined && given !== null ? given : v !== undefined ? v : (globalArgs[k] ?? '');
        }
        const next = await configStep(`ARG ${ins.args}`, () => undefined);
        return { ...next, args };
      }
      case 'WORKDIR': {
        const dir = expandWord(ins.args, env, escape);
        const abs = path.posix.resolve(cfg.WorkingDir || '/', dir);
        return configStep(`WORKDIR ${abs}`, (c) => (c.WorkingDir = abs));
      }
      case 'USER': {
        const user = expandWord(ins.args, env, escape);
        return configStep(`USER ${user}`, (c) => (c.User = user));
      }
      case 'EXPOSE': {
        const ports = processWords(ins.args, env, escape).map((p) => (p.includes('/') ? p.toLowerCase() : `${p}/tcp`));
        for (const p of ports) if (!/^\d+(-\d+)?\/(tcp|udp|sctp)$/.test(p)) throw invalid(`Dockerfile parse error line ${ins.line}: invalid containerPort: ${p}`);
        return configStep(`EXPOSE ${ports.join(' ')}`, (c) => {
          c.ExposedPorts = { ...c.ExposedPorts };
          for (const p of ports) c.ExposedPorts[p] = {};
        });
      }
      case 'VOLUME': {
        const vols = ins.json ?? processWords(ins.args, env, escape);
        return configStep(`VOLUME [${vols.join(' ')}]`, (c) => {
          c.Volumes = { ...c.Volumes };
          for (const v of vols) c.Volumes[v] = {};
        });
      }
      case 'STOPSIGNAL': {
        const sig = expandWord(ins.args, env, escape);
        return configStep(`STOPSIGNAL ${sig}`, (c) => (c.StopSignal = sig));
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        const argv = ins.json ?? [...state.shell, ins.args];
        const shown = `${ins.keyword} ${goQuoted(argv)}`;
        const next = await configStep(shown, (c) => {
          if (ins.keyword === 'CMD') c.Cmd = argv;
          else {
            c.Entrypoint = argv;
            // As Docker: an ENTRYPOINT resets a CMD inherited from the base image, not one set in this stage.
            if (!state.cmdSet) c.Cmd = null;
          }
        });
        return { ...next, cmdSet: state.cmdSet || ins.keyword === 'CMD' };
      }
      case 'SHELL': {
        if (!ins.json?.length) throw invalid(`Dockerfile parse error line ${ins.line}: SHELL requires the arguments to be in JSON form`);
        const next = await configStep(`SHELL [${ins.json.join(' ')}]`, (c) => (c.Shell = ins.json));
        return { ...next, shell: ins.json };
      }
      case 'HEALTHCHECK': {
        const hc = parseHealthcheck(ins);
        return configStep(`HEALTHCHECK ${JSON.stringify(hc)}`, (c) => (c.Healthcheck = hc));
      }
      case 'ONBUILD': {
        const trigger = ins.args.trim();
        const kw = trigger.split(/\s+/)[0]!.toUpperCase();
        if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(kw)) throw invalid(`Dockerfile parse error line ${ins.line}: ${kw} isn't allowed as an ONBUILD trigger`);
        return configStep(`ONBUILD ${trigger}`, (c) => (c.OnBuild = [...(c.OnBuild ?? []), trigger]));
      }
      case 'RUN':
        return this.run(state, ins, o, used);
      case 'COPY':
      case 'ADD':
        return this.copy(state, ins, escape, o, results, stages);
      default:
        throw invalid(`Dockerfile parse error line ${ins.line}: unknown instruction: ${ins.keyword}`);
    }
  }

  private async run(state: State, ins: Instruction, o: BuildOptions, used: Set<string>): Promise<State> {
    const script = ins.heredocs.length && /^<<-?["']?[A-Za-z_]/.test(ins.args) ? ins.heredocs[0]!.body : undefined;
    const argv = ins.json ?? [...state.shell, script ?? ins.args];
    // Build args reach RUN as environment, below the image's ENV; they are part of the cache key.
    const env = envMap(state.config.config?.Env);
    const argEnv = Object.entries(state.args).filter(([k]) => !(k in env));
    for (const k of PREDEFINED_ARGS) if (o.buildArgs[k] && !(k in env)) argEnv.push([k, o.buildArgs[k]!]);
    for (const [k] of argEnv) used.add(k);
    const argPrefix = argEnv.length ? `|${argEnv.length} ${argEnv.map(([k, v]) => `${k}=${v}`).join(' ')} ` : '';
    const createdBy = `${argPrefix}${argv.join(' ')}`;
    const key = this.cacheKey(state, 'RUN', createdBy, o.networkMode ?? '');
    const hit = await this.cached(key, o, undefined);
    if (hit) return { ...hit, args: state.args, shell: state.shell };
    const sourced = await this.fromCacheSources(state, createdBy, o);
    if (sourced) {
      await this.remember(key, sourced.imageId!);
      return sourced;
    }
    if (!state.imageId) throw new StepError(`The command '${argv.join(' ')}' returned a non-zero code: 127`, 127);
    const cfg = state.config.config ?? {};
    const { Id } = await this.d.containers.create(
      {
        Image: state.imageId,
        Cmd: argv,
        Entrypoint: [],
        Env: [...(cfg.Env ?? []), ...argEnv.map(([k, v]) => `${k}=${v}`)],
        WorkingDir: cfg.WorkingDir,
        User: cfg.User,
        Labels: { [BUILD_CONTAINER_LABEL]: 'true' },
        AttachStdout: true,
        AttachStderr: true,
        HostConfig: { NetworkMode: o.networkMode || 'default', ExtraHosts: o.extraHosts?.length ? o.extraHosts : null },
      },
      undefined,
    );
    o.output({ stream: ` ---> Running in ${Id.slice(0, 12)}\n` });
    try {
      const att = this.d.containers.attach(Id, { stdin: false, stdout: true, stderr: true });
      const copied = new Promise<void>((resolve) => {
        att.output.on('data', (c: OutputChunk) => o.output({ stream: c.data.toString() }));
        att.output.on('end', resolve);
      });
      const waited = this.d.containers.wait(Id, 'next-exit');
      await this.d.containers.start(Id);
      crashPoint('build:run');
      const { StatusCode } = await waited;
      await copied;
      if (StatusCode !== 0) throw new StepError(`The command '${argv.join(' ')}' returned a non-zero code: ${StatusCode}`, StatusCode);
      const layer = await this.d.containers.diffLayer(Id);
      const next = await this.commitLayer(state, layer, createdBy);
      await this.remember(key, next.imageId!);
      return next;
    } finally {
      o.output({ stream: `Removing intermediate container ${Id.slice(0, 12)}\n` });
      await this.d.containers.remove(Id, { force: true, volumes: true }).catch((err: unknown) => this.d.logger.warn({ err: String(err) }, 'intermediate container not removed'));
    }
  }

  /** Mount a state's filesystem read-only (for COPY --from and user lookups); answers the dir and an unmount. */
  private async mountState(state: State): Promise<{ dir: string; release: () => Promise<void> }> {
    const dir = path.join(this.d.dataRoot, 'build', 'mnt', randomBytes(8).toString('hex'));
    await fs.mkdir(dir, { recursive: true });
    const chain = chainIds(state.config.rootfs.diff_ids).at(-1);
    if (!chain) return { dir, release: () => fs.rm(dir, { recursive: true, force: true }) };
    const lowers = await this.d.snapshots.lowerDirs(chain);
    // Overlay needs two lower directories for a mount without an upper one; one layer is bound as it is.
    if (lowers.length === 1) native.mount(lowers[0]!, dir, 'none', MS_BIND, '');
    else native.mount('overlay', dir, 'overlay', MS_RDONLY, `lowerdir=${lowers.join(':')}`);
    return {
      dir,
      release: async () => {
        native.umount2(dir, MNT_DETACH);
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  }

  private async copy(state: State, ins: Instruction, escape: string, o: BuildOptions, results: Map<number, State>, stages: Stage[]): Promise<State> {
    const env = this.expansionEnv(state);
    const isAdd = ins.keyword === 'ADD';
    const words = ins.heredocs.length ? processWords(ins.args, env, escape) : (ins.json ?? processWords(ins.args, env, escape));
    if (words.length < 2) throw invalid(`Dockerfile parse error line ${ins.line}: ${ins.keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`);
    const destWord = words.at(-1)!;
    const srcWords = words.slice(0, -1);
    const workdir = state.config.config?.WorkingDir || '/';
    const dest = path.posix.resolve(workdir, destWord) + (destWord.endsWith('/') || destWord === '.' ? '/' : '');
    const chmod = ins.flags.chmod ? parseInt(ins.flags.chmod, 8) : undefined;
    if (ins.flags.chmod !== undefined && (Number.isNaN(chmod) || chmod! > 0o7777)) throw invalid(`invalid chmod parameter: ${ins.flags.chmod}`);

    // Where the sources come from: the context, another stage, or an image.
    let root = o.contextDir;
    let ignored = o.ignored;
    let release: (() => Promise<void>) | undefined;
    const from = ins.flags.from !== undefined ? expandWord(ins.flags.from, env, escape) : undefined;
    if (from !== undefined) {
      const stage = stages.find((s) => s.name === from.toLowerCase()) ?? (/^\d+$/.test(from) ? stages[Number(from)] : undefined);
      const source = stage ? results.get(stage.index) : await this.imageState(from, o, false);
      if (!source) throw invalid(`COPY --from=${from}: stage is not built before this one`);
      const m = await this.mountState(source);
      root = m.dir;
      release = m.release;
      ignored = NOTHING_IGNORED;
    }
    try {
      const heredocFiles = ins.heredocs.map((h) => ({ name: h.name, body: h.body }));
      const sources: Source[] = [];
      const remote: string[] = [];
      for (const w of srcWords) {
        if (heredocFiles.some((h) => w === `<<${h.name}` || w === `<<-${h.name}`)) continue;
        if (isAdd && /^https?:\/\//.test(w)) remote.push(w);
        else sources.push(...(await resolveSources(root, w, ignored)));
      }
      const multiple = sources.length + remote.length + heredocFiles.length > 1;
      if (multiple && !dest.endsWith('/')) throw invalid(`When using ${ins.keyword} with more than one source file, the destination must be a directory and end with a /`);
      const { uid, gid } = await this.owner(state, ins.flags.chown, env, escape);
      const sum = await checksumSources(root, sources, ignored, from === undefined ? o.digests : undefined);
      const key = this.cacheKey(state, ins.keyword, JSON.stringify({ srcWords, dest, flags: ins.flags, sum, remote, heredocs: heredocFiles, from }));
      const hit = await this.cached(key, o, undefined);
      if (hit) return { ...hit, args: state.args, shell: state.shell };
      const what = sources.length === 1 && !remote.length && !heredocFiles.length ? ((await isDir(path.join(root, sources[0]!.path))) ? 'dir' : 'file') : 'multi';
      const createdBy = `${state.shell.join(' ')} #(nop) ${ins.keyword} ${what}:${sum} in ${dest} `;
      const sourced = await this.fromCacheSources(state, createdBy, o);
      if (sourced) {
        await this.remember(key, sourced.imageId!);
        return sourced;
      }

      const existing = await this.mountState(state);
      let layer;
      try {
        const pack = tarPack();
        const packing = (async () => {
          const made = new Set<string>();
          const parents = async (p: string): Promise<void> => {
            const parts = p.split('/').filter(Boolean);
            for (let i = 1; i < parts.length; i++) {
              const dir = parts.slice(0, i).join('/');
              if (made.has(dir) || (await fs.lstat(path.join(existing.dir, dir)).catch(() => undefined))) continue;
              made.add(dir);
              await addEntry(pack, { name: `${dir}/`, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: new Date() });
            }
          };
          // The destination as the image sees it: its symlinks are followed inside the image's root, so
          // the layer names real directories (and never shadows an image's symlink with a directory).
          const resolvedDest = await resolveInRoot(existing.dir, dest, true);
          const destIsDir = dest.endsWith('/') || multiple || (await isDir(resolvedDest));
          const base = path.relative(existing.dir, resolvedDest);
          for (const src of sources) {
            const abs = path.join(root, src.path);
            const st = await fs.lstat(abs);
            if (st.isDirectory()) {
              // A directory's contents are copied, not the directory itself.
              await parents(`${base}/x`);
              if (base) await addEntry(pack, { name: `${base}/`, type: 'directory', mode: chmod ?? (st.mode & 0o7777), uid, gid, mtime: st.mtime });
              await packTree(pack, abs, base, ignored, src.path, uid, gid, chmod);
              continue;
            }
            if (isAdd && st.isFile() && (await isArchive(abs))) {
              await parents(`${base}/x`);
              await packArchive(pack, abs, base);
              continue;
            }
            const name = destIsDir ? `${base}/${path.basename(src.rel)}` : base;
            await parents(name);
            await packFile(pack, abs, name, st, uid, gid, chmod);
          }
          for (const url of remote) {
            const body = await download(url);
            const name = destIsDir ? `${base}/${path.basename(new URL(url).pathname) || 'index.html'}` : base;
            await parents(name);
            await addEntry(pack, { name, type: 'file', mode: chmod ?? 0o600, uid, gid, mtime: new Date(), size: body.length }, body);
          }
          for (const h of heredocFiles) {
            const name = destIsDir ? `${base}/${h.name}` : base;
            await parents(name);
            const body = Buffer.from(h.body);
            await addEntry(pack, { name, type: 'file', mode: chmod ?? 0o644, uid, gid, mtime: new Date(), size: body.length }, body);
          }
          pack.finalize();
        })();
        packing.catch((err: Error) => pack.destroy(err));
        layer = await storeLayer(this.d.images.contentStore, pack as unknown as Readable);
        await packing;
      } finally {
        await existing.release();
      }
      const next = await this.commitLayer(state, layer, createdBy);
      await this.remember(key, next.imageId!);
      return next;
    } finally {
      await release?.();
    }
  }

  /** `--chown=user[:group]`: numbers as they are, names from the image's /etc/passwd and /etc/group. */
  private async owner(state: State, chown: string | undefined, env: Record<string, string>, escape: string): Promise<{ uid: number; gid: number }> {
    if (!chown) return { uid: 0, gid: 0 };
    const [user = '', group] = expandWord(chown, env, escape).split(':');
    const numeric = (v: string): number | undefined => (/^\d+$/.test(v) ? Number(v) : undefined);
    if (numeric(user) !== undefined && (group === undefined || numeric(group) !== undefined)) return { uid: numeric(user)!, gid: group === undefined ? numeric(user)! : numeric(group)! };
    const m = await this.mountState(state);
    try {
      const passwd = await readImageFile(m.dir, 'etc/passwd');
      const groups = await readImageFile(m.dir, 'etc/group');
      const pw = passwd.split('\n').map((l) => l.split(':')).find((f) => f[0] === user || f[2] === user);
      const uid = numeric(user) ?? (pw ? Number(pw[2]) : undefined);
      if (uid === undefined) throw invalid(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${user}: no such user: ${user}`);
      if (group === undefined) return { uid, gid: pw ? Number(pw[3]) : uid };
      const gr = groups.split('\n').map((l) => l.split(':')).find((f) => f[0] === group || f[2] === group);
      const gid = numeric(group) ?? (gr ? Number(gr[2]) : undefined);
      if (gid === undefined) throw invalid(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${group}: no such group: ${group}`);
      return { uid, gid };
    } finally {
      await m.release();
    }
  }
}

const MS_RDONLY = 1;
/** Marks the containers RUN steps make, so those a crash left behind are removed at the next start. */
export const BUILD_CONTAINER_LABEL = 'io.gantry.build.container';
const MS_BIND = 4096;

/** Go's `%q` of a string slice, as Docker prints CMD and ENTRYPOINT in history: `["node" "app.js"]`. */
function goQuoted(argv: string[]): string {
  return `[${argv.map((a) => JSON.stringify(a)).join(' ')}]`;
}

function parseHealthcheck(ins: Instruction): HealthConfig {
  const words = ins.args.trim().split(/\s+/);
  if (words[0]?.toUpperCase() === 'NONE') return { Test: ['NONE'] };
  if (words[0]?.toUpperCase() !== 'CMD') throw invalid(`Dockerfile parse error line ${ins.line}: Unknown type "${words[0] ?? ''}" in HEALTHCHECK (try CMD)`);
  const rest = ins.args.trim().slice(3).trim();
  let test: string[];
  try {
    const v = JSON.parse(rest) as unknown;
    test = Array.isArray(v) ? ['CMD', ...(v as string[])] : ['CMD-SHELL', rest];
  } catch {
    test = ['CMD-SHELL', rest];
  }
  const dur = (v: string | undefined): number | undefined => {
    if (!v) return undefined;
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
    if (!m) throw invalid(`Dockerfile parse error line ${ins.line}: time: invalid duration "${v}"`);
    return Math.round(Number(m[1]) * { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as 'ms']);
  };
  const f = ins.flags;
  return { Test: test, Interval: dur(f.interval), Timeout: dur(f.timeout), StartPeriod: dur(f['start-period']), Retries: f.retries ? Number(f.retries) : undefined };
}
