/**
 * Issue 18: machines join with a token file alone, as `kubeadm join` does: the agent learns the
 * cluster CA from the signed cluster-info and checks it with the hash in the token, then gets a node
 * certificate. Tokens from `gantry server token create` expire and are revoked by `token delete`; a
 * wrong, expired or revoked token, or a CA other than the token names, is refused with words saying
 * so, before anything is registered.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { formatJoinToken } from '../../src/cluster/pki/jointoken.js';
import {
  Cleanup,
  joinArgs,
  startNodeDaemon,
  GANTRY,
  kubectlFor,
  run,
  startProcess,
  startServer,
  waitFor,
  type ClusterServer,
  type Daemon,
} from './helpers.js';

describe('joining with a token', () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  let d: Daemon;
  before(async () => {
    server = await startServer(cleanup);
    d = await startNodeDaemon(cleanup);
  });
  after(() => cleanup.run());

  const token = (...args: string[]): string => {
    const r = run(GANTRY, ['server', 'token', ...args, '--data-dir', server.dir]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  /** The agent's arguments for `node` with the token in a file and no CA file. */
  const withToken = async (node: string, text: string): Promise<string[]> => {
    const file = path.join(server.dir, `${node}.token`);
    writeFileSync(file, text + '\n', { mode: 0o600 });
    const args = await joinArgs(server, d, node, file);
    return args;
  };

  test('refused: a wrong secret, an expired or revoked token, another CA; nothing registered', async () => {
    const { ok } = kubectlFor(() => server.env);
    const good = token('create', '--description', 'e2e');
    const [hash, bootstrap] = good.split('::') as [string, string];
    const [id, secret] = bootstrap.split('.') as [string, string];
    const expiring = token('create', '--ttl', '2s');
    const revoked = token('create');
    assert.match(token('delete', revoked.split('::')[1]!.split('.')[0]!), /^bootstrap token "[a-z0-9]{6}" deleted$/);
    const list = token('list');
    assert.match(list, /^TOKEN\s+TTL\s+EXPIRES\s+USAGES\s+DESCRIPTION\s+EXTRA GROUPS/);
    assert.match(list, new RegExp(`${bootstrap}\\s+23h\\s+\\S+\\s+authentication,signing\\s+e2e`));
    await new Promise((r) => setTimeout(r, 3000));
    const cases: Array<[string, string, RegExp]> = [
      [
        'wrong secret',
        `${hash}::${id}.${secret.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'))}`,
        /does not know this token's secret/,
      ],
      ['expired', expiring, /does not know token [a-z0-9]{6}: it is wrong, expired or revoked/],
      ['revoked', revoked, /does not know token [a-z0-9]{6}: it is wrong, expired or revoked/],
      ['another CA', `K10${'0'.repeat(64)}::${bootstrap}`, /is not the one the token names/],
      ['no CA hash', bootstrap, /the token names no CA/],
      ['not a token', 'hello', /does not hold a join token/],
    ];
    for (const [what, text, want] of cases) {
      const args = await withToken(`refused-${cases.findIndex((c) => c[0] === what)}`, text);
      const r = run(GANTRY, [...args, '--discovery-timeout', '2s']);
      assert.notEqual(r.code, 0, what);
      assert.match(r.stderr, want, what);
    }
    assert.doesNotMatch(ok(['get', 'nodes']), /refused-/);
    assert.equal(ok(['get', 'csr', '-o', 'name']), '');
  });

  test('a machine joins with the token alone: Ready within 10 s, its pods run', async () => {
    const { ok } = kubectlFor(() => server.env);
    const started = Date.now();
    startProcess(cleanup, GANTRY, await withToken('joined', token('create')), path.join(server.dir, 'joined.log'));
    await waitFor(() => /joined\s+Ready/.test(ok(['get', 'nodes'])), 'the node to be Ready', 10000);
    process.stdout.write(`# joined and Ready in ${Date.now() - started} ms\n`);
    ok(['run', 'after-join', '--image=busybox:latest', '--restart=Never', '--', 'sleep', '600']);
    await waitFor(
      () => ok(['get', 'pod', 'after-join', '-o', 'jsonpath={.status.phase}']) === 'Running',
      'the pod',
      60000,
    );
  });

  test('an agent started before its token exists waits for it, as kubeadm join does', async () => {
    const { ok } = kubectlFor(() => server.env);
    const ca = readFileSync(path.join(server.dir, 'tls', 'ca.crt'), 'utf8');
    const bootstrap = 'early0.0123456789abcdef';
    const log = path.join(server.dir, 'early.log');
    startProcess(cleanup, GANTRY, await withToken('early', formatJoinToken(bootstrap, ca)), log);
    await waitFor(() => /does not know token early0.*trying again/.test(readFileSync(log, 'utf8')), 'a retry', 10000);
    assert.match(token('create', bootstrap), new RegExp(`::${bootstrap}$`));
    await waitFor(() => /early\s+Ready/.test(ok(['get', 'nodes'])), 'the node to be Ready', 15000);
    const bad = run(GANTRY, ['server', 'token', 'create', 'EARLY0.0123456789abcdef', '--data-dir', server.dir]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid token "EARLY0.0123456789abcdef": give \[a-z0-9\]\{6\}\.\[a-z0-9\]\{16\}/);
  });

  test('a client certificate past 70% of its life is renewed while the agent runs', async () => {
    const { ok } = kubectlFor(() => server.env);
    const node = 'rotating';
    const args = await withToken(node, token('create'));
    const dataDir = args[args.indexOf('--data-dir') + 1]!;
    const pki = path.join(dataDir, 'pki');
    mkdirSync(pki, { recursive: true });
    copyFileSync(path.join(server.dir, 'tls', 'ca.crt'), path.join(pki, 'ca.crt'));
    // A node certificate of the cluster CA issued twenty days ago, lapsing in a day and a half: past 90% of
    // its life, so its renewal is due whatever the jitter, yet still good enough for the agent to start with.
    const day = 86400_000;
    const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
    writeFileSync(path.join(pki, 'index.txt'), '');
    writeFileSync(path.join(pki, 'serial'), '1000\n');
    writeFileSync(
      path.join(pki, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = d',
        '[d]',
        `database = ${pki}/index.txt`,
        `new_certs_dir = ${pki}`,
        `serial = ${pki}/serial`,
        'default_md = sha256',
        'policy = p',
        'unique_subject = no',
        '[p]',
        'organizationName = supplied',
        'commonName = supplied',
        '[ext]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage = clientAuth',
        '',
      ].join('\n'),
    );
    const openssl = (a: string[]): void => {
      const r = run('openssl', a);
      assert.equal(r.code, 0, r.stderr);
    };
    openssl(
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        .concat(['-keyout', path.join(pki, 'client.key'), '-out', path.join(pki, 'client.csr')])
        .concat(['-subj', `/O=system:nodes/CN=system:node:${node}`]),
    );
    openssl(
      ['ca', '-batch', '-notext', '-config', path.join(pki, 'ca.cnf'), '-extensions', 'ext']
        .concat(['-cert', path.join(server.dir, 'tls', 'ca.crt'), '-keyfile', path.join(server.dir, 'tls', 'ca.key')])
        .concat(['-startdate', stamp(Date.now() - 20 * day), '-enddate', stamp(Date.now() + 1.5 * day)])
        .concat(['-in', path.join(pki, 'client.csr'), '-out', path.join(pki, 'client.crt')]),
    );
    const old = readFileSync(path.join(pki, 'client.crt'), 'utf8');
    startProcess(cleanup, GANTRY, args, path.join(server.dir, `${node}.log`));
    await waitFor(() => new RegExp(`${node}\\s+Ready`).test(ok(['get', 'nodes'])), 'the node to be Ready', 20000);
    await waitFor(() => readFileSync(path.join(pki, 'client.crt'), 'utf8') !== old, 'a renewed certificate', 30000);
    const renewed = new X509Certificate(readFileSync(path.join(pki, 'client.crt')));
    assert.ok(Date.parse(renewed.validTo) - Date.now() > 300 * day, renewed.validTo);
    assert.match(renewed.subject, new RegExp(`CN=system:node:${node}`));
    // The agent goes on with the renewed certificate: its heartbeats keep the node Ready.
    await new Promise((r) => setTimeout(r, 12000));
    assert.match(ok(['get', 'nodes']), new RegExp(`${node}\\s+Ready`));
    assert.match(
      ok(['get', 'csr']),
      /kubernetes\.io\/kube-apiserver-client-kubelet\s+system:node:rotating\s+<none>\s+Approved,Issued/,
    );
  });
});
