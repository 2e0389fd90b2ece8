/**
 * The Dockerfile's instructions, each turning a stage's state into the next. Config-only ones (ENV,
 * LABEL, CMD, ...) change the image config; RUN executes in a container of this engine (its network,
 * its runtime) on the current image, and its writable layer becomes the step's layer through the same
 * path as `docker commit`; COPY and ADD pack their files straight into a layer, with no container.
 */
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { invalid } from '../common/errors.js';
import { crashPoint } from '../common/faults.js';
import type { OutputChunk } from '../engine/containers/types.js';
import { storeLayer } from '../engine/layers.js';
import type { ContainerConfig, ImageConfig } from '../images/oci.js';
import { chownIds } from './chown.js';
import { checksumSources, NOTHING_IGNORED, resolveSources, type Source } from './context.js';
import { packCopy } from './copylayer.js';
import { isDir } from './copysources.js';
import { expandWord, keyValues, processWords, type Instruction, type Stage } from './dockerfile.js';
import { parseHealthcheck } from './healthcheck.js';
import { mountLayers, type ImageMount } from './mounts.js';
import type { StepImages } from './stepimages.js';
import {
  BUILD_CONTAINER_LABEL,
  envMap,
  PREDEFINED_ARGS,
  setEnv,
  StepError,
  type BuilderDeps,
  type BuildOptions,
  type State,
} from './types.js';

export class Steps {
  constructor(
    private readonly d: BuilderDeps,
    private readonly images: StepImages,
    /** An image named by `COPY --from` that is no stage: a local one, pulled when not here. */
    private readonly localImage: (ref: string, o: BuildOptions) => Promise<State>,
  ) {}

  /** The environment instructions expand with: ARGs in scope, then the image's ENV over them. */
  private expansionEnv(state: State): Record<string, string> {
    return { ...state.args, ...envMap(state.config.config?.Env) };
  }

  async step(
    state: State,
    ins: Instruction,
    escape: string,
    o: BuildOptions,
    results: Map<number, State>,
    stages: Stage[],
    used: Set<string>,
    globalArgs: Record<string, string>,
  ): Promise<State> {
    const env = this.expansionEnv(state);
    const cfg: ContainerConfig = { ...state.config.config };
    // Docker's history text for config-only steps: `/bin/sh -c #(nop)  CMD ["node" "app.js"]` (two spaces).
    const nop = (text: string): string => `${state.shell.join(' ')} #(nop)  ${text}`;
    // Config-only instructions: the cache key is the instruction as expanded.
    const configStep = async (
      text: string,
      change: (c: ContainerConfig) => void,
      extra: Partial<ImageConfig> = {},
    ): Promise<State> => {
      const key = this.images.cacheKey(state, text, JSON.stringify(state.args));
      const hit = await this.images.cached(key, o, state.layers);
      if (hit) return { ...hit, args: state.args, shell: state.shell, cmdSet: state.cmdSet };
      change(cfg);
      const next = await this.images.commitConfig(state, { ...state.config, ...extra, config: cfg }, nop(text));
      await this.images.remember(key, next.imageId!);
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
        for (const p of ports)
          if (!/^\d+(-\d+)?\/(tcp|udp|sctp)$/.test(p))
            throw invalid(`Dockerfile parse error line ${ins.line}: invalid containerPort: ${p}`);
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
        if (!ins.json?.length)
          throw invalid(`Dockerfile parse error line ${ins.line}: SHELL requires the arguments to be in JSON form`);
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
        if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(kw))
          throw invalid(`Dockerfile parse error line ${ins.line}: ${kw} isn't allowed as an ONBUILD trigger`);
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
    const key = this.images.cacheKey(state, 'RUN', createdBy, o.networkMode ?? '');
    const hit = await this.images.cached(key, o, undefined);
    if (hit) return { ...hit, args: state.args, shell: state.shell };
    const sourced = await this.images.fromCacheSources(state, createdBy, o);
    if (sourced) {
      await this.images.remember(key, sourced.imageId!);
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
      if (StatusCode !== 0)
        throw new StepError(`The command '${argv.join(' ')}' returned a non-zero code: ${StatusCode}`, StatusCode);
      const layer = await this.d.containers.diffLayer(Id);
      const next = await this.images.commitLayer(state, layer, createdBy);
      await this.images.remember(key, next.imageId!);
      return next;
    } finally {
      o.output({ stream: `Removing intermediate container ${Id.slice(0, 12)}\n` });
      await this.d.containers
        .remove(Id, { force: true, volumes: true })
        .catch((err: unknown) => this.d.logger.warn({ err: String(err) }, 'intermediate container not removed'));
    }
  }

  /** A state's filesystem mounted read-only (for COPY --from and user lookups). */
  private mountState(state: State): Promise<ImageMount> {
    return mountLayers(this.d.dataRoot, this.d.snapshots, state.config.rootfs.diff_ids);
  }

  private async copy(
    state: State,
    ins: Instruction,
    escape: string,
    o: BuildOptions,
    results: Map<number, State>,
    stages: Stage[],
  ): Promise<State> {
    const env = this.expansionEnv(state);
    const isAdd = ins.keyword === 'ADD';
    const words = ins.heredocs.length
      ? processWords(ins.args, env, escape)
      : (ins.json ?? processWords(ins.args, env, escape));
    if (words.length < 2)
      throw invalid(
        `Dockerfile parse error line ${ins.line}: ${ins.keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`,
      );
    const destWord = words.at(-1)!;
    const srcWords = words.slice(0, -1);
    const workdir = state.config.config?.WorkingDir || '/';
    const dest = path.posix.resolve(workdir, destWord) + (destWord.endsWith('/') || destWord === '.' ? '/' : '');
    const chmod = ins.flags.chmod ? parseInt(ins.flags.chmod, 8) : undefined;
    if (ins.flags.chmod !== undefined && (Number.isNaN(chmod) || chmod! > 0o7777))
      throw invalid(`invalid chmod parameter: ${ins.flags.chmod}`);

    // Where the sources come from: the context, another stage, or an image.
    let root = o.contextDir;
    let ignored = o.ignored;
    let release: (() => Promise<void>) | undefined;
    const from = ins.flags.from !== undefined ? expandWord(ins.flags.from, env, escape) : undefined;
    if (from !== undefined) {
      const stage =
        stages.find((s) => s.name === from.toLowerCase()) ?? (/^\d+$/.test(from) ? stages[Number(from)] : undefined);
      const source = stage ? results.get(stage.index) : await this.localImage(from, o);
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
      if (multiple && !dest.endsWith('/'))
        throw invalid(
          `When using ${ins.keyword} with more than one source file, the destination must be a directory and end with a /`,
        );
      const { uid, gid } = await chownIds(ins.flags.chown, env, escape, () => this.mountState(state));
      const sum = await checksumSources(root, sources, ignored, from === undefined ? o.digests : undefined);
      const key = this.images.cacheKey(
        state,
        ins.keyword,
        JSON.stringify({ srcWords, dest, flags: ins.flags, sum, remote, heredocs: heredocFiles, from }),
      );
      const hit = await this.images.cached(key, o, undefined);
      if (hit) return { ...hit, args: state.args, shell: state.shell };
      const what =
        sources.length === 1 && !remote.length && !heredocFiles.length
          ? (await isDir(path.join(root, sources[0]!.path)))
            ? 'dir'
            : 'file'
          : 'multi';
      const createdBy = `${state.shell.join(' ')} #(nop) ${ins.keyword} ${what}:${sum} in ${dest} `;
      const sourced = await this.images.fromCacheSources(state, createdBy, o);
      if (sourced) {
        await this.images.remember(key, sourced.imageId!);
        return sourced;
      }

      const existing = await this.mountState(state);
      let layer;
      try {
        const pack = tarPack();
        const packing = packCopy(pack, {
          imageRoot: existing.dir,
          dest,
          multiple,
          root,
          sources,
          ignored,
          remote,
          heredocs: heredocFiles,
          isAdd,
          owner: { uid, gid },
          chmod,
        });
        packing.catch((err: Error) => pack.destroy(err));
        layer = await storeLayer(this.d.images.contentStore, pack as unknown as Readable);
        await packing;
      } finally {
        await existing.release();
      }
      const next = await this.images.commitLayer(state, layer, createdBy);
      await this.images.remember(key, next.imageId!);
      return next;
    } finally {
      await release?.();
    }
  }
}

/** Go's `%q` of a string slice, as Docker prints CMD and ENTRYPOINT in history: `["node" "app.js"]`. */
function goQuoted(argv: string[]): string {
  return `[${argv.map((a) => JSON.stringify(a)).join(' ')}]`;
}
