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
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalid } from '../common/errors.js';
import { MNT_DETACH, native } from '../native/index.js';
import { readContextFile } from './context.js';
import { expandWord, keyValues, parseDockerfile, type Stage } from './dockerfile.js';
import { StepImages } from './stepimages.js';
import { Steps } from './steps.js';
import {
  BUILD_CONTAINER_LABEL,
  DEFAULT_SHELL,
  PATH_ENV,
  PREDEFINED_ARGS,
  type BuilderDeps,
  type BuildOptions,
  type State,
} from './types.js';

export class Builder {
  private readonly stepImages: StepImages;
  private readonly steps: Steps;

  constructor(private readonly d: BuilderDeps) {
    this.stepImages = new StepImages(d);
    this.steps = new Steps(d, this.stepImages, (ref, o) => this.imageState(ref, o, false));
  }

  /** After a crash: RUN containers, contexts being built and read-only mounts of states are leftovers. */
  async recover(): Promise<void> {
    for (const c of this.d.containers.sorted()) {
      if (c.Config.Labels?.[BUILD_CONTAINER_LABEL] !== 'true') continue;
      await this.d.containers
        .remove(c.Id, { force: true, volumes: true })
        .catch((err: unknown) =>
          this.d.logger.warn({ err: String(err), id: c.Id }, 'leftover build container not removed'),
        );
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

  /** `builder prune`: forget the cache and drop intermediate images nothing depends on. */
  async prune(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    const ids = await this.stepImages.forget();
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
    if (!dfPath.startsWith(o.contextDir))
      throw invalid(`the Dockerfile (${o.dockerfile}) must be within the build context`);
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
          state = await this.steps.step(
            state,
            { ...ins!, line: stage.line },
            escape,
            o,
            results,
            df.stages,
            used,
            globalArgs,
          );
        }
        state = await this.stepImages.commitConfig(
          state,
          { ...state.config, config: { ...state.config.config, OnBuild: null } },
          undefined,
        );
        o.output({ stream: ` ---> ${state.imageId!.replace(/^sha256:/, '').slice(0, 12)}\n` });
      }
      for (const ins of stage.instructions) {
        step++;
        o.output({ stream: `Step ${step}/${total} : ${ins.text}\n` });
        state = await this.steps.step(state, ins, escape, o, results, df.stages, used, globalArgs);
        o.output({ stream: ` ---> ${state.imageId!.replace(/^sha256:/, '').slice(0, 12)}\n` });
      }
      results.set(stage.index, state);
    }
    let final = results.get(target.index)!;
    if (!final.imageId || Object.keys(o.labels).length) {
      final = await this.stepImages.commitConfig(
        final,
        {
          ...final.config,
          config: { ...final.config.config, Labels: { ...final.config.config?.Labels, ...o.labels } },
        },
        undefined,
        false,
      );
    }
    const rec = await this.d.images.createImage(final.config, final.layers, { intermediate: false });
    const unused = Object.keys(o.buildArgs).filter(
      (k) => !used.has(k) && !PREDEFINED_ARGS.includes(k) && !(k in globalArgs),
    );
    if (unused.length)
      o.output({ stream: `[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n` });
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
    const byRef = (ref: string): Stage | undefined =>
      stages.find((s) => s.name === ref.toLowerCase()) ?? (/^\d+$/.test(ref) ? stages[Number(ref)] : undefined);
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
      const registry =
        ref.includes('/') && /[.:]|localhost/.test(ref.split('/')[0]!) ? ref.split('/')[0]! : 'docker.io';
      rec = await this.d.images.pull(ref, o.auth(registry), (m) => {
        if (m.status && !m.progressDetail?.total) o.output({ stream: `${m.id ? `${m.id}: ` : ''}${m.status}\n` });
      });
    }
    const config = await this.d.images.config(rec);
    return { imageId: rec.id, config, layers: rec.layers, args: {}, shell: DEFAULT_SHELL };
  }

  private async fromState(base: string, stages: Stage[], results: Map<number, State>, o: BuildOptions): Promise<State> {
    if (base === 'scratch') {
      return {
        config: {
          architecture: 'amd64',
          os: 'linux',
          config: { Env: [PATH_ENV] },
          rootfs: { type: 'layers', diff_ids: [] },
          history: [],
        },
        layers: [],
        args: {},
        shell: DEFAULT_SHELL,
      };
    }
    const stage = stages.find((s) => s.name === base.toLowerCase());
    if (stage) {
      const done = results.get(stage.index);
      if (!done) throw invalid(`stage ${base} is not built before it is used`);
      return { ...done, args: {} };
    }
    return this.imageState(base, o, o.pull);
  }
}
