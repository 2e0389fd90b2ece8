/**
 * `gantry server token create|list|delete`: the bootstrap tokens machines join with, as
 * `kubeadm token` manages them — Secrets `kube-system/bootstrap-token-<id>`, expiring after `--ttl`
 * (24 h unless given; 0 never), deleted to revoke. `create` prints the token with the cluster CA's
 * hash in front (`K10<hash>::<id>.<secret>`), all `gantry agent --token-file` needs besides the URL.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { humanDuration } from '../../cluster/api/age.js';
import { isNotFound } from '../../cluster/api/errors.js';
import type { KObject } from '../../cluster/api/object.js';
import { BOOTSTRAP_TOKEN, BOOTSTRAP_TOKEN_TYPE } from '../../cluster/api/wellknown.js';
import { ApiClient, collectionPath } from '../../cluster/client/client.js';
import { tokenOf } from '../../cluster/controllers/bootstrapsigner.js';
import {
  bootstrapTokenSecret,
  formatJoinToken,
  newBootstrapToken,
  parseJoinToken,
} from '../../cluster/pki/jointoken.js';
import { goDurationNs } from '../../common/time.js';
import { DEFAULT_DATA_DIR } from './server.js';

const SECRETS = collectionPath('v1', 'secrets', 'kube-system');

/** The admin client of the server whose data dir is `dataDir`, and its CA. */
function adminClient(dataDir: string): { client: ApiClient; ca: string } {
  const tls = path.join(dataDir, 'tls');
  const read = (f: string): string => readFileSync(path.join(tls, f), 'utf8');
  const kubeconfig = parseYaml(readFileSync(path.join(dataDir, 'kubeconfig.yaml'), 'utf8')) as {
    clusters?: Array<{ cluster?: { server?: string } }>;
  };
  const server = kubeconfig.clusters?.[0]?.cluster?.server;
  if (!server) throw new Error(`${path.join(dataDir, 'kubeconfig.yaml')} names no server`);
  const ca = read('ca.crt');
  return { client: new ApiClient({ server, ca, cert: read('admin.crt'), key: read('admin.key') }), ca };
}

/** kubeadm token list's row for one token Secret. */
function row(secret: KObject, now: number): string[] | undefined {
  const t = tokenOf(secret);
  if (!t) return undefined;
  const data = (secret.data ?? {}) as Record<string, string>;
  const field = (k: string): string => (data[k] ? Buffer.from(data[k], 'base64').toString('utf8') : '');
  const usages = Object.keys(data)
    .filter((k) => k.startsWith('usage-bootstrap-') && field(k) === 'true')
    .map((k) => k.slice('usage-bootstrap-'.length))
    .sort();
  const ttl = t.expiration ? humanDuration(Math.max(0, Date.parse(t.expiration) - now)) : '<forever>';
  return [
    `${t.id}.${t.secret}`,
    ttl,
    t.expiration ?? '<never>',
    usages.join(',') || '<none>',
    field('description') || '<none>',
    field('auth-extra-groups') || '<none>',
  ];
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

export function registerTokenCommands(server: Command): void {
  const token = server.command('token').description('Manage the bootstrap tokens machines join the cluster with');
  token
    .command('create')
    .description('Create a join token and print it (with the hash of the cluster CA in front)')
    .argument(
      '[token]',
      'the token to create, as kubeadm takes it ([a-z0-9]{6}.[a-z0-9]{16}); a random one if not given',
    )
    .option('-d, --data-dir <dir>', 'the server data dir', DEFAULT_DATA_DIR)
    .option('--ttl <duration>', 'how long the token lives (0: for ever)', '24h0m0s')
    .option('--description <text>', 'what the token is for')
    .action(async (given: string | undefined, o: { dataDir: string; ttl: string; description?: string }) => {
      const parsed = given === undefined ? undefined : BOOTSTRAP_TOKEN.exec(given);
      if (given !== undefined && !parsed)
        throw new Error(
          `invalid token ${JSON.stringify(given)}: give [a-z0-9]{6}.[a-z0-9]{16}, as "abcdef.0123456789abcdef"`,
        );
      const ttlNs = o.ttl === '0' ? 0 : goDurationNs(o.ttl);
      if (ttlNs === undefined || ttlNs < 0)
        throw new Error(`invalid --ttl ${JSON.stringify(o.ttl)}: give a duration such as 24h, or 0 for ever`);
      const { client, ca } = adminClient(o.dataDir);
      const { id, secret } = parsed ? { id: parsed[1]!, secret: parsed[2]! } : newBootstrapToken();
      const expiration =
        ttlNs > 0 ? new Date(Date.now() + ttlNs / 1e6).toISOString().replace(/\.\d+Z$/, 'Z') : undefined;
      try {
        await client.create(SECRETS, bootstrapTokenSecret({ id, secret, expiration, description: o.description }));
      } finally {
        client.close();
      }
      process.stdout.write(formatJoinToken(`${id}.${secret}`, ca) + '\n');
    });
  token
    .command('list')
    .description('List the bootstrap tokens')
    .option('-d, --data-dir <dir>', 'the server data dir', DEFAULT_DATA_DIR)
    .action(async (o: { dataDir: string }) => {
      const { client } = adminClient(o.dataDir);
      try {
        const list = await client.list(SECRETS, { fieldSelector: `type=${BOOTSTRAP_TOKEN_TYPE}` });
        const now = Date.now();
        const rows = list.items.map((s) => row(s, now)).filter((r): r is string[] => !!r);
        if (!rows.length) return;
        const head = ['TOKEN', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION', 'EXTRA GROUPS'];
        process.stdout.write(table([head, ...rows]) + '\n');
      } finally {
        client.close();
      }
    });
  token
    .command('delete')
    .description('Delete bootstrap tokens (by id or whole token): machines can no longer join with them')
    .argument('<token...>', 'token ids or tokens')
    .option('-d, --data-dir <dir>', 'the server data dir', DEFAULT_DATA_DIR)
    .action(async (ids: string[], o: { dataDir: string }) => {
      const { client } = adminClient(o.dataDir);
      try {
        for (const given of ids) {
          const id = /^[a-z0-9]{6}$/.test(given) ? given : parseJoinToken(given)?.id;
          if (!id) throw new Error(`invalid token ${JSON.stringify(given)}: give its id (6 characters) or the token`);
          await client.delete(`${SECRETS}/bootstrap-token-${id}`).catch((err: unknown) => {
            if (isNotFound(err)) throw new Error(`bootstrap token "${id}" not found`);
            throw err;
          });
          process.stdout.write(`bootstrap token "${id}" deleted\n`);
        }
      } finally {
        client.close();
      }
    });
}
