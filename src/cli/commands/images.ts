/** Image commands: pull, push, images, tag, rmi, history, inspect, prune, save, load, import, login, logout. */
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { shortId } from '../../common/digest.js';
import { humanSize } from '../../engine/progress.js';
import {
  familiarName,
  familiarString,
  parseNormalizedReference,
  parseWithDefaultTag,
  referenceString,
} from '../../images/reference.js';
import { encodeAuthHeader } from '../../registry/auth.js';
import type { ApiClient } from '../../api/docker/client.js';
import { credentialsFor, removeCredentials, storeCredentials } from '../config.js';
import { renderRows, since } from '../format/table.js';
import { displayJsonMessages } from '../progress.js';
import { action, clientOf, collect, ellipsis, filtersJson, inspectEach, topAndGroup } from './common.js';
import { registryDomainOf } from '../../api/docker/system.js';

interface ImageSummary {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
  SharedSize: number;
  Containers: number;
  Labels: Record<string, string> | null;
}

async function authHeader(name: string): Promise<Record<string, string>> {
  const ref = parseNormalizedReference(name);
  return { 'X-Registry-Auth': encodeAuthHeader(await credentialsFor(ref.domain)) };
}

export async function pullImage(
  client: ApiClient,
  name: string,
  quiet: boolean,
  platform?: string,
  out: NodeJS.WriteStream = process.stdout,
): Promise<void> {
  const ref = parseWithDefaultTag(name);
  const fromImage = familiarName(ref);
  const tag = ref.digest ?? ref.tag;
  const res = await client.stream('POST', '/images/create', {
    query: { fromImage, tag, platform },
    headers: await authHeader(name),
  });
  if (quiet) {
    await displayJsonMessages(res, { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream);
  } else {
    await displayJsonMessages(res, out);
  }
  out.write(`${referenceString(ref)}\n`);
}

function imageRows(images: ImageSummary[], opts: { digests: boolean; noTrunc: boolean; filterRef?: string }) {
  const rows: Array<Record<string, unknown>> = [];
  for (const img of images) {
    const byRepo = new Map<string, { tags: string[]; digests: string[] }>();
    for (const t of img.RepoTags ?? []) {
      if (t === '<none>:<none>') continue;
      const r = parseNormalizedReference(t);
      const e = byRepo.get(familiarName(r)) ?? { tags: [], digests: [] };
      e.tags.push(r.tag!);
      byRepo.set(familiarName(r), e);
    }
    for (const d of img.RepoDigests ?? []) {
      if (d.startsWith('<none>')) continue;
      const r = parseNormalizedReference(d);
      const e = byRepo.get(familiarName(r)) ?? { tags: [], digests: [] };
      e.digests.push(r.digest!);
      byRepo.set(familiarName(r), e);
    }
    const base = {
      ID: opts.noTrunc ? img.Id : shortId(img.Id),
      CreatedSince: img.Created ? since(img.Created) : 'N/A',
      CreatedAt: new Date(img.Created * 1000)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' +0000 UTC'),
      Size: humanSize(img.Size),
      VirtualSize: humanSize(img.Size),
      SharedSize: img.SharedSize >= 0 ? humanSize(img.SharedSize) : 'N/A',
      Containers: img.Containers >= 0 ? String(img.Containers) : 'N/A',
      Labels: Object.entries(img.Labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    };
    let any = false;
    for (const [repo, e] of [...byRepo.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      if (opts.filterRef && !matchesRepo(opts.filterRef, repo, e.tags)) continue;
      const tags = e.tags.length ? e.tags.sort() : ['<none>'];
      for (const tag of tags) {
        if (opts.digests && e.digests.length) {
          for (const d of e.digests) rows.push({ ...base, Repository: repo, Tag: tag, Digest: d });
        } else rows.push({ ...base, Repository: repo, Tag: tag, Digest: e.digests[0] ?? '<none>' });
        any = true;
      }
    }
    if (!any && byRepo.size === 0 && !opts.filterRef)
      rows.push({ ...base, Repository: '<none>', Tag: '<none>', Digest: '<none>' });
  }
  return rows;
}

function matchesRepo(filter: string, repo: string, tags: string[]): boolean {
  const i = filter.lastIndexOf(':');
  const hasTag = i > filter.lastIndexOf('/');
  const name = hasTag ? filter.slice(0, i) : filter;
  const tag = hasTag ? filter.slice(i + 1) : undefined;
  const familiar = familiarName(parseNormalizedReference(name));
  return (repo === familiar || repo === name) && (!tag || tags.includes(tag));
}

const IMAGE_HEADERS = {
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  ID: 'IMAGE ID',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  SharedSize: 'SHARED SIZE',
  Containers: 'CONTAINERS',
  VirtualSize: 'VIRTUAL SIZE',
  Labels: 'LABELS',
};

async function listImages(
  cmd: Command,
  repo: string | undefined,
  opts: { all?: boolean; quiet?: boolean; digests?: boolean; noTrunc?: boolean; filter: string[]; format?: string },
): Promise<void> {
  const client = clientOf(cmd);
  const images = await client.json<ImageSummary[]>('GET', '/images/json', {
    query: { all: opts.all ? '1' : undefined, filters: filtersJson(opts.filter) },
  });
  const rows = imageRows(images, { digests: !!opts.digests, noTrunc: !!opts.noTrunc, filterRef: repo });
  let format = opts.format;
  if (opts.quiet) format = '{{.ID}}';
  if (!format || format === 'table') {
    format = opts.digests
      ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
      : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  }
  if (format === 'json') format = '{{json .}}';
  process.stdout.write(renderRows(format, rows, IMAGE_HEADERS));
}

async function removeImages(cmd: Command, names: string[], opts: { force?: boolean; prune?: boolean }): Promise<void> {
  const client = clientOf(cmd);
  let failed = false;
  for (const n of names) {
    try {
      const out = await client.json<Array<{ Untagged?: string; Deleted?: string }>>(
        'DELETE',
        `/images/${encodeURIComponent(n)}`,
        {
          query: { force: opts.force ? '1' : undefined, noprune: opts.prune === false ? '1' : undefined },
        },
      );
      for (const o of out) process.stdout.write(o.Untagged ? `Untagged: ${o.Untagged}\n` : `Deleted: ${o.Deleted}\n`);
    } catch (err) {
      process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
      failed = true;
    }
  }
  if (failed) process.exitCode = 1;
}

async function history(
  cmd: Command,
  name: string,
  opts: { human: boolean; noTrunc?: boolean; quiet?: boolean; format?: string },
): Promise<void> {
  const client = clientOf(cmd);
  const entries = await client.json<
    Array<{ Id: string; Created: number; CreatedBy: string; Size: number; Comment: string; Tags: string[] | null }>
  >('GET', `/images/${encodeURIComponent(name)}/history`);
  const rows = entries.map((e) => {
    const createdBy = e.CreatedBy.replace(/\t/g, ' ');
    return {
      ID: e.Id === '<missing>' ? '<missing>' : opts.noTrunc ? e.Id : shortId(e.Id),
      CreatedSince: opts.human ? since(e.Created) : new Date(e.Created * 1000).toISOString(),
      CreatedAt: new Date(e.Created * 1000).toISOString(),
      CreatedBy: opts.noTrunc ? createdBy : ellipsis(createdBy, 45),
      Size: opts.human ? humanSize(e.Size) : String(e.Size),
      Comment: e.Comment,
    };
  });
  let format = opts.format ?? 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';
  if (opts.quiet) format = '{{.ID}}';
  process.stdout.write(
    renderRows(format, rows, {
      ID: 'IMAGE',
      CreatedSince: 'CREATED',
      CreatedAt: 'CREATED AT',
      CreatedBy: 'CREATED BY',
      Size: 'SIZE',
      Comment: 'COMMENT',
    }),
  );
}

async function save(cmd: Command, names: string[], opts: { output?: string }): Promise<void> {
  if (!opts.output && process.stdout.isTTY)
    throw new Error('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  const client = clientOf(cmd);
  const res = await client.stream('GET', '/images/get', { query: { names } });
  await pipeline(res, opts.output ? createWriteStream(opts.output) : process.stdout);
}

async function load(cmd: Command, opts: { input?: string; quiet?: boolean }): Promise<void> {
  if (!opts.input && process.stdin.isTTY) throw new Error('requested load from stdin, but stdin is empty');
  const client = clientOf(cmd);
  const body = opts.input ? createReadStream(opts.input) : process.stdin;
  const res = await client.stream('POST', '/images/load', {
    query: { quiet: opts.quiet ? '1' : undefined },
    body,
    headers: { 'Content-Type': 'application/x-tar' },
  });
  await displayJsonMessages(res, process.stdout);
}

async function importImage(
  cmd: Command,
  file: string,
  repo: string | undefined,
  opts: { change: string[]; message?: string; platform?: string },
): Promise<void> {
  const client = clientOf(cmd);
  if (/^https?:\/\//.test(file)) throw new Error('importing from a URL is not supported');
  const body = file === '-' ? process.stdin : createReadStream(file);
  let repoName: string | undefined;
  let tag: string | undefined;
  if (repo) {
    const r = parseNormalizedReference(repo);
    repoName = familiarName(r);
    tag = r.tag;
  }
  const res = await client.stream('POST', '/images/create', {
    query: { fromSrc: '-', repo: repoName, tag, message: opts.message, changes: opts.change, platform: opts.platform },
    body,
    headers: { 'Content-Type': 'application/x-tar' },
  });
  await displayJsonMessages(res, process.stdout);
}

async function readSecret(prompt: string): Promise<string> {
  process.stdout.write(prompt);
  const rl = createInterface({ input: process.stdin, terminal: false });
  const line = await new Promise<string>((resolve) => rl.once('line', resolve));
  rl.close();
  return line;
}

async function login(
  cmd: Command,
  server: string | undefined,
  opts: { username?: string; password?: string; passwordStdin?: boolean },
): Promise<void> {
  const client = clientOf(cmd);
  let password = opts.password;
  if (opts.passwordStdin) {
    if (!opts.username) throw new Error('Must provide --username with --password-stdin');
    password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  }
  let username = opts.username;
  if (!username) username = (await readSecret('Username: ')).trim();
  if (password === undefined) password = await readSecret('Password: ');
  const domain = registryDomainOf(server);
  await client.json('POST', '/auth', {
    body: { username, password, serveraddress: server ?? 'https://index.docker.io/v1/' },
  });
  const where = await storeCredentials(domain, username, password);
  process.stderr.write(`WARNING! Your credentials are stored unencrypted in '${where}'.\n`);
  process.stdout.write('Login Succeeded\n');
}

async function logout(server: string | undefined): Promise<void> {
  const domain = registryDomainOf(server);
  const removed = await removeCredentials(domain);
  if (!removed) process.stdout.write(`Not logged in to ${server ?? 'https://index.docker.io/v1/'}\n`);
  else process.stdout.write(`Removing login credentials for ${server ?? 'https://index.docker.io/v1/'}\n`);
}

async function prune(cmd: Command, opts: { all?: boolean; force?: boolean; filter: string[] }): Promise<void> {
  const client = clientOf(cmd);
  if (!opts.force) {
    const warning = opts.all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.';
    process.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
    const answer = await readSecret('');
    if (!/^y(es)?$/i.test(answer.trim())) return;
  }
  const filters = JSON.parse(filtersJson(opts.filter) ?? '{}') as Record<string, Record<string, boolean>>;
  if (opts.all) filters.dangling = { false: true };
  const res = await client.json<{
    ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null;
    SpaceReclaimed: number;
  }>('POST', '/images/prune', {
    query: { filters: JSON.stringify(filters) },
  });
  if (res.ImagesDeleted?.length) {
    process.stdout.write('Deleted Images:\n');
    for (const d of res.ImagesDeleted)
      process.stdout.write(d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted}\n`);
    process.stdout.write('\n');
  }
  process.stdout.write(`Total reclaimed space: ${humanSize(res.SpaceReclaimed)}\n`);
}

async function push(cmd: Command, name: string, opts: { quiet?: boolean; allTags?: boolean }): Promise<void> {
  const client = clientOf(cmd);
  const ref = parseNormalizedReference(name);
  if (ref.digest) throw new Error('cannot push a digest reference');
  const tag = opts.allTags ? undefined : (ref.tag ?? 'latest');
  const res = await client.stream('POST', `/images/${encodeURIComponent(familiarName(ref))}/push`, {
    query: { tag },
    headers: await authHeader(name),
  });
  if (opts.quiet) {
    await displayJsonMessages(res, { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream);
    process.stdout.write(`${familiarString({ ...ref, tag })}\n`);
  } else await displayJsonMessages(res, process.stdout);
}

export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('Manage images');

  const pullCmd = (c: Command): void => {
    c.description('Download an image from a registry')
      .argument('<name>', 'NAME[:TAG|@DIGEST]')
      .option('-q, --quiet', 'suppress verbose output')
      .option('-a, --all-tags', 'download all tagged images in the repository')
      .option('--platform <platform>', 'set platform if server is multi-platform capable')
      .action(
        action(async (name: string, opts: { quiet?: boolean; allTags?: boolean; platform?: string }, cmd: Command) => {
          if (opts.allTags) throw new Error('--all-tags is not supported');
          await pullImage(clientOf(cmd), name, !!opts.quiet, opts.platform);
        }),
      );
  };
  const pushCmd = (c: Command): void => {
    c.description('Upload an image to a registry')
      .argument('<name>', 'NAME[:TAG]')
      .option('-q, --quiet', 'suppress verbose output')
      .option('-a, --all-tags', 'push all tags of the repository')
      .action(
        action(async (name: string, opts: { quiet?: boolean; allTags?: boolean }, cmd: Command) =>
          push(cmd, name, opts),
        ),
      );
  };
  const lsCmd = (c: Command): void => {
    c.description('List images')
      .argument('[repository]', 'REPOSITORY[:TAG]')
      .option('-a, --all', 'show all images')
      .option('-q, --quiet', 'only show image IDs')
      .option('--digests', 'show digests')
      .option('--no-trunc', "don't truncate output")
      .option('-f, --filter <filter>', 'filter output based on conditions provided', collect, [])
      .option('--format <format>', 'format output using a Go template')
      .action(
        action(async (repo: string | undefined, opts: Parameters<typeof listImages>[2], cmd: Command) =>
          listImages(cmd, repo, { ...opts, noTrunc: (opts as { trunc?: boolean }).trunc === false }),
        ),
      );
  };
  const tagCmd = (c: Command): void => {
    c.description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
      .argument('<source>')
      .argument('<target>')
      .action(
        action(async (source: string, target: string, _o: unknown, cmd: Command) => {
          const ref = parseNormalizedReference(target);
          if (ref.digest) throw new Error('refusing to create a tag with a digest reference');
          await clientOf(cmd).call('POST', `/images/${encodeURIComponent(source)}/tag`, {
            query: { repo: familiarName(ref), tag: ref.tag ?? 'latest' },
          });
        }),
      );
  };
  const rmCmd = (c: Command): void => {
    c.description('Remove one or more images')
      .argument('<images...>')
      .option('-f, --force', 'force removal of the image')
      .option('--no-prune', 'do not delete untagged parents')
      .action(
        action(async (names: string[], opts: { force?: boolean; prune?: boolean }, cmd: Command) =>
          removeImages(cmd, names, opts),
        ),
      );
  };
  const historyCmd = (c: Command): void => {
    c.description('Show the history of an image')
      .argument('<image>')
      .option('-H, --human [bool]', 'print sizes and dates in human readable format', (v) => v !== 'false', true)
      .option('--no-trunc', "don't truncate output")
      .option('-q, --quiet', 'only show image IDs')
      .option('--format <format>', 'format output using a Go template')
      .action(
        action(
          async (
            name: string,
            opts: { human: boolean; trunc?: boolean; quiet?: boolean; format?: string },
            cmd: Command,
          ) => history(cmd, name, { ...opts, noTrunc: opts.trunc === false }),
        ),
      );
  };
  const inspectCmd = (c: Command): void => {
    c.description('Display detailed information on one or more images')
      .argument('<images...>')
      .option('-f, --format <format>', 'format output using a Go template')
      .action(
        action(async (names: string[], opts: { format?: string }, cmd: Command) => {
          const client = clientOf(cmd);
          await inspectEach(names, (n) => client.json('GET', `/images/${encodeURIComponent(n)}/json`), opts.format);
        }),
      );
  };
  const saveCmd = (c: Command): void => {
    c.description('Save one or more images to a tar archive (streamed to STDOUT by default)')
      .argument('<images...>')
      .option('-o, --output <file>', 'write to a file, instead of STDOUT')
      .action(action(async (names: string[], opts: { output?: string }, cmd: Command) => save(cmd, names, opts)));
  };
  const loadCmd = (c: Command): void => {
    c.description('Load an image from a tar archive or STDIN')
      .option('-i, --input <file>', 'read from tar archive file, instead of STDIN')
      .option('-q, --quiet', 'suppress the load output')
      .action(action(async (opts: { input?: string; quiet?: boolean }, cmd: Command) => load(cmd, opts)));
  };
  const importCmd = (c: Command): void => {
    c.description('Import the contents from a tarball to create a filesystem image')
      .argument('<file>', 'file|URL|-')
      .argument('[repository]', 'REPOSITORY[:TAG]')
      .option('-c, --change <instruction>', 'apply Dockerfile instruction to the created image', collect, [])
      .option('-m, --message <message>', 'set commit message for imported image')
      .option('--platform <platform>', 'set platform if server is multi-platform capable')
      .action(
        action(
          async (
            file: string,
            repo: string | undefined,
            opts: { change: string[]; message?: string; platform?: string },
            cmd: Command,
          ) => importImage(cmd, file, repo, opts),
        ),
      );
  };
  const pruneCmd = (c: Command): void => {
    c.description('Remove unused images')
      .option('-a, --all', 'remove all unused images, not just dangling ones')
      .option('-f, --force', 'do not prompt for confirmation')
      .option('--filter <filter>', 'provide filter values (e.g. "until=<timestamp>")', collect, [])
      .action(
        action(async (opts: { all?: boolean; force?: boolean; filter: string[] }, cmd: Command) => prune(cmd, opts)),
      );
  };

  const both = (top: string, sub: string, build: (c: Command) => void, alias?: string): void =>
    topAndGroup(program, image, top, sub, build, alias);
  both('pull', 'pull', pullCmd);
  both('push', 'push', pushCmd);
  both('images', 'ls', lsCmd, 'list');
  both('tag', 'tag', tagCmd);
  both('rmi', 'rm', rmCmd, 'remove');
  both('history', 'history', historyCmd);
  both('save', 'save', saveCmd);
  both('load', 'load', loadCmd);
  both('import', 'import', importCmd);
  inspectCmd(image.command('inspect'));
  pruneCmd(image.command('prune'));

  program
    .command('login')
    .description('Log in to a registry')
    .argument('[server]')
    .option('-u, --username <username>')
    .option('-p, --password <password>')
    .option('--password-stdin', 'take the password from stdin')
    .action(
      action(
        async (
          server: string | undefined,
          opts: { username?: string; password?: string; passwordStdin?: boolean },
          cmd: Command,
        ) => login(cmd, server, opts),
      ),
    );
  program
    .command('logout')
    .description('Log out from a registry')
    .argument('[server]')
    .action(action(async (server: string | undefined) => logout(server)));
}
