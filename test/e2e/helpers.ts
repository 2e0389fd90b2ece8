/**
 * End-to-end test plumbing: real processes (gantry daemon, gantry registry, Debian's docker-registry),
 * real clients (docker CLI, skopeo, docker-py), each test with its own state directories and ports,
 * and cleanup that runs even when a test fails.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const GANTRY = path.join(ROOT, 'bin/gantry');

/** Things to undo after a test file, in reverse order. */
export class Cleanup {
  private readonly fns: Array<() => Promise<void> | void> = [];
  add(fn: () => Promise<void> | void): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    while (this.fns.length) {
      const fn = this.fns.pop()!;
      try {
        await fn();
      } catch {
        // Keep cleaning the rest.
      }
    }
  }
}

export function tempDir(cleanup: Cleanup, prefix = 'gantry-e2e-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanup.add(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; input?: string | Buffer; cwd?: string; timeoutMs?: number } = {},
): RunResult {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    env: { ...process.env, ...opts.env },
    input: opts.input,
    cwd: opts.cwd,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 300000,
    maxBuffer: 256 << 20,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function runAsync(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; input?: Buffer } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (opts.input) p.stdin.end(opts.input);
    else p.stdin.end();
  });
}

/** GET a URL with curl(1): the body, or a description of the failure (so assertions show it). */
export async function curl(url: string): Promise<string> {
  const r = await runAsync('curl', ['-sS', '--max-time', '5', url]);
  return r.code === 0 ? r.stdout : `curl failed (${r.code}): ${r.stderr}`;
}

/** Run and require success, returning stdout. */
export function ok(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): string {
  const r = run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function canConnect(opts: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(opts);
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export function startProcess(
  cleanup: Cleanup,
  cmd: string,
  args: string[],
  logFile: string,
  env: Record<string, string> = {},
): ChildProcess {
  const out = openSync(logFile, 'a');
  const p = spawn(cmd, args, { stdio: ['ignore', out, out], detached: false, env: { ...process.env, ...env } });
  cleanup.add(async () => {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          p.kill('SIGKILL');
          resolve();
        }, 5000);
        p.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  });
  return p;
}

export interface Daemon {
  sock: string;
  host: string;
  dataRoot: string;
  execRoot: string;
  /** Device of the default bridge network. */
  bridge: string;
  args: string[];
  env: Record<string, string>;
  proc: ChildProcess;
  log: string;
}

const octetsTaken = new Set<number>();

/**
 * A second octet for a daemon's 10.X.0.0/16 that no other daemon of this process and no address on the
 * host uses: two daemons on one subnet would route each other's containers' traffic wrongly.
 */
function freeOctet(): number {
  const onHost = run('ip', ['-4', '-o', 'addr', 'show']).stdout;
  for (;;) {
    const octet = 100 + Math.floor(Math.random() * 150);
    if (octetsTaken.has(octet) || onHost.includes(` 10.${octet}.`)) continue;
    octetsTaken.add(octet);
    return octet;
  }
}

export async function startDaemon(
  cleanup: Cleanup,
  opts: { mirror?: string; insecure?: string[]; dataRoot?: string; execRoot?: string; extraArgs?: string[] } = {},
): Promise<Daemon> {
  const dir = tempDir(cleanup, 'gantry-daemon-');
  const sock = path.join(dir, 'gantry.sock');
  const dataRoot = opts.dataRoot ?? path.join(dir, 'data');
  const execRoot = opts.execRoot ?? path.join(dir, 'run');
  const log = path.join(dir, 'daemon.log');
  // A bridge and subnets of its own, so tests never touch a user's networks or each other's.
  const octet = freeOctet();
  const bridge = `gtb${randomBytes(3).toString('hex')}`;
  const args = [
    'daemon',
    '-H',
    `unix://${sock}`,
    '--data-root',
    dataRoot,
    '--exec-root',
    execRoot,
    '--bridge',
    bridge,
    '--bip',
    `10.${octet}.0.1/24`,
    '--default-address-pool',
    `base=10.${octet}.0.0/16,size=24`,
  ];
  if (opts.mirror) args.push('--registry-mirror', opts.mirror);
  for (const i of opts.insecure ?? []) args.push('--insecure-registry', i);
  args.push(...(opts.extraArgs ?? []));
  // Registered before the daemon, so it runs after the daemon has stopped: remove what containers left.
  cleanup.add(() => reapContainers(dataRoot, execRoot));
  const proc = startProcess(cleanup, GANTRY, args, log);
  const host = `unix://${sock}`;
  cleanup.add(() => {
    if (proc.exitCode === null)
      run(
        'docker',
        [
          'rm',
          '-f',
          ...run('docker', ['ps', '-aq'], { env: { DOCKER_HOST: host } })
            .stdout.split('\n')
            .filter(Boolean),
        ],
        { env: { DOCKER_HOST: host } },
      );
  });
  await waitFor(() => canConnect({ path: sock }), `gantry daemon on ${sock}`);
  return {
    sock,
    host,
    dataRoot,
    execRoot,
    bridge,
    env: { DOCKER_HOST: host, GANTRY_HOST: host, DOCKER_CONFIG: path.join(dir, 'docker-config') },
    proc,
    log,
    args,
  };
}

/** Restart a daemon on the same state (after it was killed), with `env` added to its environment. */
export async function restartDaemon(cleanup: Cleanup, d: Daemon, env: Record<string, string> = {}): Promise<Daemon> {
  const proc = startProcess(cleanup, GANTRY, d.args, d.log, env);
  await fs.rm(d.sock, { force: true });
  await waitFor(() => canConnect({ path: d.sock }), `gantry daemon on ${d.sock}`);
  return { ...d, proc };
}

/** Leftovers of containers whose engine is gone: conmon processes, runtime state, mounts, cgroups. */
export async function reapContainers(dataRoot: string, execRoot: string): Promise<void> {
  for (const line of run('ps', ['-eo', 'pid,args']).stdout.split('\n')) {
    if (line.includes('conmon') && line.includes(execRoot)) {
      const pid = Number(line.trim().split(/\s+/)[0]);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  for (const rt of ['runc', 'crun']) {
    const root = path.join(execRoot, rt);
    if (!existsSync(root)) continue;
    for (const id of await fs.readdir(root).catch(() => [] as string[]))
      run(rt, ['--root', root, 'delete', '--force', id]);
  }
  // Bridges of the engine's networks (the CNI bridge plugin never deletes them).
  const netDir = path.join(dataRoot, 'network', 'networks');
  for (const f of await fs.readdir(netDir).catch(() => [] as string[])) {
    const rec = JSON.parse(await fs.readFile(path.join(netDir, f), 'utf8')) as { Options: Record<string, string> };
    const dev = rec.Options['com.docker.network.bridge.name'];
    if (!dev) continue;
    if (existsSync(`/sys/class/net/${dev}`)) run('ip', ['link', 'del', dev]);
    // IPv4 and, for IPv6 networks, IPv6 rules.
    for (const bin of ['iptables', 'ip6tables'])
      for (const table of ['nat', 'filter']) {
        for (const rule of run(`${bin}-save`, ['-t', table]).stdout.split('\n')) {
          const plain = rule.replace(/"/g, '');
          if (plain.startsWith('-A ') && plain.includes(`gantry:${dev} `))
            run(bin, ['-w', '-t', table, '-D', ...plain.slice(3).trim().split(/\s+/)]);
        }
      }
  }
  const mounts = (await fs.readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m.startsWith(dataRoot) || m.startsWith(execRoot)));
  for (const m of mounts.reverse()) run('umount', ['-l', m]);
}

export interface EtcdCluster {
  /** The members' client URLs, comma-separated, as --datastore-endpoint takes them. */
  endpoint: string;
  /** SIGKILL one member (the others keep a quorum of two of three). */
  kill: (member: number) => Promise<void>;
  stop: () => Promise<void>;
}

/** An etcd of `size` members (Debian's etcd-server) on free loopback ports, in a directory of its own. */
export async function startEtcd(size = 1): Promise<EtcdCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-etcd-'));
  const ports: Array<{ client: number; peer: number }> = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const initial = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
  const procs = ports.map(({ client, peer }, i) =>
    spawn(
      'etcd',
      [
        '--data-dir',
        path.join(dir, `m${i}`),
        '--name',
        `m${i}`,
        '--listen-client-urls',
        `http://127.0.0.1:${client}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${client}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peer}`,
        '--initial-cluster',
        initial,
        '--initial-cluster-token',
        path.basename(dir),
      ],
      { stdio: 'ignore' },
    ),
  );
  const kill = async (member: number): Promise<void> => {
    const proc = procs[member]!;
    proc.kill('SIGKILL');
    await new Promise((r) =>
      proc.exitCode !== null || proc.signalCode !== null ? r(undefined) : proc.once('exit', r),
    );
  };
  const stop = async (): Promise<void> => {
    for (let i = 0; i < procs.length; i++) await kill(i);
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    for (const { client } of ports) await waitFor(() => canConnect({ host: '127.0.0.1', port: client }), 'etcd', 20000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint: ports.map((p) => `http://127.0.0.1:${p.client}`).join(','), kill, stop };
}

const KUBECTL_DIR = '/usr/lib/google-cloud-sdk/bin';
/** kubectl 1.33 (installed beside the default kubectl on these machines), else the one on PATH. */
export const kubectl = existsSync(`${KUBECTL_DIR}/kubectl.1.33`) ? `${KUBECTL_DIR}/kubectl.1.33` : 'kubectl';
export const kubectl127 = `${KUBECTL_DIR}/kubectl.1.27`;
export const hasKubectl = existsSync(kubectl) || run('sh', ['-c', 'command -v kubectl']).code === 0;

/**
 * kubectl (1.33 unless another binary is given) against a cluster whose environment `env` answers
 * once it is up: `k` answers the result, `ok` insists on success and answers stdout.
 */
export function kubectlFor(env: () => Record<string, string>): {
  k: (args: string[], input?: string, bin?: string) => RunResult;
  ok: (args: string[], input?: string, bin?: string) => string;
} {
  const k = (args: string[], input?: string, bin = kubectl): RunResult => run(bin, args, { env: env(), input });
  const ok = (args: string[], input?: string, bin = kubectl): string => {
    const r = k(args, input, bin);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  return { k, ok };
}

export interface ClusterServer {
  dir: string;
  port: number;
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** KUBECONFIG for kubectl: the admin kubeconfig the server writes. */
  env: Record<string, string>;
  /** The server's admin bearer token. */
  token: string;
  proc: ChildProcess;
}

/** `gantry server` on loopback port `port` with its state in `dir`, a control plane only (the tests run their own nodes). */
export function serverArgs(dir: string, port: number, extra: string[] = []): string[] {
  return [
    'server',
    '--data-dir',
    dir,
    '--https-listen-port',
    String(port),
    '--bind-address',
    '127.0.0.1',
    '--disable-agent',
    ...extra,
  ];
}

/**
 * `gantry server` on loopback with its state in a folder of its own (or `opts.dir`, to start it again
 * on the same state and port), waited for until it answers.
 */
export async function startServer(
  cleanup: Cleanup,
  extraArgs: string[] = [],
  opts: { dir?: string; port?: number } = {},
): Promise<ClusterServer> {
  const dir = opts.dir ?? tempDir(cleanup);
  const port = opts.port ?? (await freePort());
  const url = `https://127.0.0.1:${port}`;
  const proc = startProcess(cleanup, GANTRY, serverArgs(dir, port, extraArgs), path.join(dir, 'server.log'));
  await waitFor(
    () => existsSync(path.join(dir, 'kubeconfig.yaml')) && run('curl', ['-sk', `${url}/healthz`]).stdout === 'ok',
    'the API server',
    20000,
  );
  return {
    dir,
    port,
    url,
    env: { KUBECONFIG: path.join(dir, 'kubeconfig.yaml') },
    token: readFileSync(path.join(dir, 'token'), 'utf8').trim(),
    proc,
  };
}

/** The bootstrap token (`<id>.<secret>`) of a server's node-token file, without the CA hash in front. */
export function nodeBootstrapToken(server: ClusterServer): string {
  return readFileSync(path.join(server.dir, 'node-token'), 'utf8')
    .trim()
    .replace(/^K10[0-9a-f]{64}::/, '');
}

/** `gantry scheduler` as a process of its own against a server, with the admin certificate. */
export function startScheduler(cleanup: Cleanup, server: ClusterServer, logFile: string): ChildProcess {
  const tls = path.join(server.dir, 'tls');
  return startProcess(
    cleanup,
    GANTRY,
    [
      'scheduler',
      '--server',
      server.url,
      '--ca-file',
      path.join(tls, 'ca.crt'),
      '--cert-file',
      path.join(tls, 'admin.crt'),
      '--key-file',
      path.join(tls, 'admin.key'),
    ],
    logFile,
  );
}

/**
 * A one-node cluster of its own for a test: a loopback registry with busybox, a daemon using it as its
 * mirror, `gantry server` (with `serverArgs`) and an agent as `nodeName`, Ready. Pod containers left by
 * a failing test are removed at cleanup with the rest.
 */
export async function startOneNodeCluster(
  cleanup: Cleanup,
  nodeName: string,
  serverArgs: string[] = [],
  agentExtra: string[] = [],
): Promise<{ d: Daemon; server: ClusterServer; agent: ChildProcess }> {
  const d = await startNodeDaemon(cleanup);
  const server = await startServer(cleanup, serverArgs);
  const agent = startProcess(
    cleanup,
    GANTRY,
    [...(await agentArgs(server, d, nodeName)), ...agentExtra],
    path.join(server.dir, 'agent.log'),
  );
  await waitFor(
    () => new RegExp(`${nodeName}\\s+Ready`).test(run(kubectl, ['get', 'nodes'], { env: server.env }).stdout),
    `node ${nodeName} to be Ready`,
    20000,
  );
  return { d, server, agent };
}

/**
 * A daemon for a node's pods: busybox from a loopback registry it mirrors; pod containers a failing
 * test leaves are removed at cleanup with the rest.
 */
export async function startNodeDaemon(cleanup: Cleanup): Promise<Daemon> {
  const reg = await startRegistry(cleanup, 'gantry');
  seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
  const d = await startDaemon(cleanup, { mirror: `http://${reg.addr}`, insecure: [reg.addr] });
  cleanup.add(() => {
    const ids = run('docker', ['ps', '-aq', '--filter', 'label=io.kubernetes.pod.uid'], { env: d.env })
      .stdout.split('\n')
      .filter(Boolean);
    if (ids.length) run('docker', ['rm', '-f', ...ids], { env: d.env });
  });
  return d;
}

/** `gantry agent` arguments for node `nodeName` joining `servers` (a URL list) with a token file alone, no CA file. */
export async function joinArgs(
  owner: ClusterServer,
  d: Daemon,
  nodeName: string,
  tokenFile: string,
  servers = owner.url,
): Promise<string[]> {
  const args = await agentArgs(owner, d, nodeName);
  const at = (flag: string): number => args.indexOf(flag);
  args.splice(at('--ca-file'), 2);
  args[at('--server') + 1] = servers;
  args[at('--token-file') + 1] = tokenFile;
  return args;
}

/** The arguments of `gantry agent` for node `nodeName` of `server`, running pods on daemon `d`, with ports of its own. */
export async function agentArgs(server: ClusterServer, d: Daemon, nodeName: string): Promise<string[]> {
  return [
    'agent',
    '--server',
    server.url,
    '--token-file',
    path.join(server.dir, 'node-token'),
    '--ca-file',
    path.join(server.dir, 'tls', 'ca.crt'),
    '--node-name',
    nodeName,
    '--docker-host',
    d.host,
    '--kubelet-port',
    String(await freePort()),
    '--data-dir',
    path.join(server.dir, `agent-${nodeName}`),
    '--cluster-dns-port',
    String(await freePort()),
    // The ingress proxy's 80 and 443 belong to the user; a test that wants it gives ports of its own.
    '--ingress-http-port',
    '0',
    '--ingress-https-port',
    '0',
  ];
}

export interface Registry {
  addr: string;
  kind: 'debian' | 'gantry';
  dataRoot: string;
  pid: number | undefined;
}

/** Start Debian's docker-registry or gantry's registry on a free loopback port. */
export async function startRegistry(
  cleanup: Cleanup,
  kind: 'debian' | 'gantry',
  opts: { htpasswd?: string } = {},
): Promise<Registry> {
  const dir = tempDir(cleanup, `gantry-registry-${kind}-`);
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const dataRoot = path.join(dir, 'data');
  let proc: ChildProcess;
  if (kind === 'debian') {
    const cfg = path.join(dir, 'config.yml');
    let yaml = `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dataRoot}\n  delete:\n    enabled: true\nhttp:\n  addr: ${addr}\n`;
    if (opts.htpasswd) yaml += `auth:\n  htpasswd:\n    realm: test\n    path: ${opts.htpasswd}\n`;
    await fs.writeFile(cfg, yaml);
    proc = startProcess(cleanup, 'docker-registry', ['serve', cfg], path.join(dir, 'registry.log'));
  } else {
    const args = ['registry', 'serve', '--addr', addr, '--data-root', dataRoot];
    if (opts.htpasswd) args.push('--htpasswd', opts.htpasswd);
    proc = startProcess(cleanup, GANTRY, args, path.join(dir, 'registry.log'));
  }
  await waitFor(() => canConnect({ host: '127.0.0.1', port }), `${kind} registry on ${addr}`);
  return { addr, kind, dataRoot, pid: proc.pid };
}

const BASE_IMAGES = 'busybox,node,redis';
const BASE_CACHE = path.join(os.tmpdir(), `gantry-e2e-base-images-${BASE_IMAGES.replace(/,/g, '-')}`);

/** An OCI layout with the locally made base images, built once per machine and reused. */
export function baseImagesLayout(): string {
  const marker = path.join(BASE_CACHE, 'index.json');
  if (!existsSync(marker)) {
    const tmp = `${BASE_CACHE}.tmp-${process.pid}`;
    ok(
      'node',
      ['--import', 'tsx', path.join(ROOT, 'scripts/make-base-images.ts'), '--oci-dir', tmp, '--images', BASE_IMAGES],
      { cwd: ROOT },
    );
    spawnSync('rm', ['-rf', BASE_CACHE]);
    spawnSync('mv', [tmp, BASE_CACHE]);
  }
  return BASE_CACHE;
}

/** Copy a base image into a registry with skopeo (as the acceptance tests ask). */
export function seedRegistry(
  reg: Registry,
  image: 'busybox:latest' | 'node:20' | 'redis:latest',
  repo: string,
  format?: 'v2s2' | 'oci',
): void {
  const args = ['copy', '--dest-tls-verify=false'];
  if (format) args.push('--format', format);
  args.push(`oci:${baseImagesLayout()}:${image}`, `docker://${reg.addr}/${repo}`);
  ok('skopeo', args);
}

/**
 * `POST /containers/create` with a raw body, past the docker CLI's own checks: what the daemon answers
 * (the body, then the status code on its own line).
 */
export function createViaApi(d: Daemon, body: Record<string, unknown>): { body: string; status: number } {
  const out = run('curl', [
    '-s',
    '-w',
    '\n%{http_code}',
    '--unix-socket',
    d.sock,
    '-H',
    'Content-Type: application/json',
    '-d',
    JSON.stringify(body),
    'http://d/containers/create',
  ]).stdout;
  const cut = out.lastIndexOf('\n');
  return { body: out.slice(0, cut), status: Number(out.slice(cut + 1)) };
}

export function docker(d: Daemon, args: string[], opts: { input?: string | Buffer } = {}): RunResult {
  return run('docker', args, { env: d.env, input: opts.input });
}

export function gantry(d: Daemon, args: string[], opts: { input?: string | Buffer } = {}): RunResult {
  return run(GANTRY, args, { env: d.env, input: opts.input });
}

export function hasPython(module: string): boolean {
  return run('python3', ['-c', `import ${module}`]).code === 0;
}

/** Flags Debian's Chromium needs to run headless here (no sandbox, GPU, QUIC or background traffic). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export { waitFor };
