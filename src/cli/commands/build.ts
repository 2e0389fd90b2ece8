/** `gantry build` and `gantry builder prune`: the classic builder's client, as the docker CLI without buildx. */
import { promises as fs, createReadStream } from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import type { Command } from 'commander';
import { pack as tarPack, type Pack } from 'tar-stream';
import { dockerignore, type IgnoreMatcher } from '../../build/context.js';
import { addEntry } from '../../diff/archive.js';
import { humanSize } from '../../engine/progress.js';
import { displayJsonMessages } from '../progress.js';
import { action, clientOf, collect, keyValueMap } from './common.js';

/**
 * The context as a tar stream, `.dockerignore` applied here so ignored files never travel; the
 * Dockerfile and .dockerignore always go, as Docker sends them.
 */
function contextTar(dir: string, ignored: IgnoreMatcher, keep: Set<string>): Pack {
  const pack = tarPack();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await fs.readdir(path.join(dir, rel))).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const abs = path.join(dir, childRel);
      const st = await fs.lstat(abs);
      if (ignored(childRel) && !keep.has(childRel) && !st.isDirectory()) continue;
      const base = { name: childRel, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 };
      if (st.isDirectory()) {
        if (!ignored(childRel)) await addEntry(pack, { ...base, name: `${childRel}/`, type: 'directory' });
        // Descend into an ignored directory only when a `!` exception may bring a file inside it back.
        if (!ignored(childRel) || ignored.descend(childRel)) await walk(childRel);
      } else if (st.isSymbolicLink())
        await addEntry(pack, { ...base, type: 'symlink', linkname: await fs.readlink(abs) });
      else if (st.isFile())
        await addEntry(
          pack,
          { ...base, type: 'file', size: st.size },
          st.size < 1 << 20 ? await fs.readFile(abs) : createReadStream(abs),
        );
    }
  };
  walk('')
    .then(() => pack.finalize())
    .catch((err: Error) => pack.destroy(err));
  return pack;
}

/** `--build-arg KEY=value`, or a bare `KEY` taking its value from the environment (skipped when unset). */
function buildArgs(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf('=');
    if (i >= 0) out[item.slice(0, i)] = item.slice(i + 1);
    else if (process.env[item] !== undefined) out[item] = process.env[item]!;
  }
  return out;
}

export function registerBuildCommands(program: Command): void {
  const build = (c: Command): Command =>
    c
      .description('Build an image from a Dockerfile')
      .argument('<path>', 'build context directory')
      .option('-t, --tag <name>', 'name and optionally a tag in the name:tag format', collect, [])
      .option('-f, --file <file>', "name of the Dockerfile (default: 'PATH/Dockerfile')")
      .option('--build-arg <arg>', 'set build-time variables', collect, [])
      .option('--target <stage>', 'set the target build stage to build')
      .option('--no-cache', 'do not use cache when building the image')
      .option('--pull', 'always attempt to pull a newer version of the image')
      .option('-q, --quiet', 'suppress the build output and print image ID on success')
      .option('--label <label>', 'set metadata for an image', collect, [])
      .option('--network <mode>', 'set the networking mode for the RUN instructions during build')
      .option('--rm', 'remove intermediate containers after a successful build (always done)')
      .action(
        action(
          async (
            ctx: string,
            o: {
              tag: string[];
              file?: string;
              buildArg: string[];
              target?: string;
              cache: boolean;
              pull?: boolean;
              quiet?: boolean;
              label: string[];
              network?: string;
            },
            cmd: Command,
          ) => {
            const dir = path.resolve(ctx);
            const st = await fs.stat(dir).catch(() => undefined);
            if (!st?.isDirectory()) throw new Error(`unable to prepare context: path "${ctx}" not found`);
            // A Dockerfile outside the context is sent inside it under a private name, as the docker CLI does.
            const dockerfile = o.file ? path.relative(dir, path.resolve(o.file)) : 'Dockerfile';
            if (dockerfile.startsWith('..'))
              throw new Error(`the Dockerfile (${o.file}) must be within the build context`);
            const ignored = await dockerignore(dir);
            let sent = 0;
            const counted = new Transform({
              transform(chunk: Buffer, _enc, cb) {
                sent += chunk.length;
                cb(null, chunk);
              },
              flush(cb) {
                if (!o.quiet) process.stdout.write(`Sending build context to Gantry daemon  ${humanSize(sent)}\n`);
                cb();
              },
            });
            const tar = (contextTar(dir, ignored, new Set([dockerfile, '.dockerignore'])) as unknown as Readable).pipe(
              counted,
            );
            const res = await clientOf(cmd).stream('POST', '/build', {
              headers: { 'Content-Type': 'application/x-tar' },
              body: tar,
              query: {
                t: o.tag,
                dockerfile,
                buildargs: JSON.stringify(buildArgs(o.buildArg)),
                labels: JSON.stringify(keyValueMap(o.label)),
                target: o.target,
                nocache: o.cache === false ? '1' : undefined,
                pull: o.pull ? '1' : undefined,
                q: o.quiet ? '1' : undefined,
                networkmode: o.network,
                rm: '1',
              },
            });
            await displayJsonMessages(res, process.stdout);
          },
        ),
      );
  build(program.command('build'));
  const image = program.commands.find((c) => c.name() === 'image');
  if (image) build(image.command('build'));
  program
    .command('builder')
    .description('Manage builds')
    .command('prune')
    .description('Remove build cache')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('-a, --all', 'remove all unused build cache')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const res = await clientOf(cmd).json<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>(
          'POST',
          '/build/prune',
        );
        if (res.CachesDeleted?.length)
          process.stdout.write(`Deleted build cache objects:\n${res.CachesDeleted.join('\n')}\n\n`);
        process.stdout.write(`Total reclaimed space: ${humanSize(res.SpaceReclaimed)}\n`);
      }),
    );
}
