/**
 * Issue 4 acceptance: bridge networking through the CNI plugins, published ports, network modes,
 * user-defined networks with their DNS, links, and volumes, through the docker CLI and docker-py.
 */
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import {
  Cleanup,
  createViaApi,
  curl,
  docker,
  freePort,
  GANTRY,
  hasPython,
  ok,
  restartDaemon,
  run,
  runAsync,
  seedRegistry,
  startDaemon,
  startProcess,
  startRegistry,
  tempDir,
  waitFor,
  type Daemon,
} from './helpers.js';

const d_ = (d: Daemon, args: string[]): string => ok('docker', args, { env: d.env });

/** The host end of a container's eth0 veth, as the bridge driver names it. */
function vethOf(d: Daemon, name: string): string {
  const id = ok('docker', ['inspect', '-f', '{{.Id}}', name], { env: d.env }).trim();
  return `veth${createHash('sha256').update(`${id}/eth0`).digest('hex').slice(0, 7)}`;
}

/** The host's own (non-loopback) IPv4 address. */
function hostAddress(): string {
  const out = run('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global']).stdout;
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out);
  assert.ok(m, 'the host has a global IPv4 address');
  return m[1]!;
}

/** Rules, links and leases that mention a container: what must be gone after it is removed. */
function leftovers(d: Daemon, ids: string[]): string[] {
  const found: string[] = [];
  const rules = run('sh', ['-c', 'iptables-save 2>/dev/null']).stdout;
  for (const id of ids) if (rules.includes(id)) found.push(`iptables rule for ${id.slice(0, 12)}`);
  const ipam = path.join(d.dataRoot, 'network', 'ipam');
  const leases = run('sh', [
    '-c',
    `grep -rl . ${ipam} 2>/dev/null | grep -v last_reserved_ip | grep -v lock`,
  ]).stdout.trim();
  if (leases) found.push(`IPAM leases: ${leases}`);
  const netns = path.join(d.execRoot, 'netns');
  const pinned = run('sh', ['-c', `ls ${netns} 2>/dev/null`]).stdout.trim();
  if (pinned) found.push(`pinned netns: ${pinned}`);
  const veths = run('sh', ['-c', `ls /sys/class/net/${d.bridge}/brif 2>/dev/null`]).stdout.trim();
  if (veths) found.push(`veths on ${d.bridge}: ${veths}`);
  return found;
}

/** The kernel removes a veth with its namespace shortly after the last process goes: allow it a moment. */
async function noLeftovers(d: Daemon, ids: string[]): Promise<void> {
  await waitFor(() => leftovers(d, ids).length === 0, 'no leftovers', 5000).catch(() => undefined);
  assert.deepEqual(leftovers(d, ids), []);
}

describe('networking through the docker CLI', () => {
  const cleanup = new Cleanup();
  let d: Daemon;
  before(async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    seedRegistry(reg, 'redis:latest', 'library/redis:latest');
    seedRegistry(reg, 'node:20', 'library/node:20');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
    d_(d, ['pull', '-q', 'busybox']);
  });
  after(() => cleanup.run());

  test('published port: localhost, host address and container IP answer; port and ps show the mapping', async () => {
    const port = await freePort();
    const www = tempDir(cleanup);
    writeFileSync(path.join(www, 'index.html'), 'hello from httpd\n');
    d_(d, [
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      `${port}:80`,
      '-v',
      `${www}:/www:ro`,
      'busybox',
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/www',
    ]);
    const ip = d_(d, ['inspect', '--format', '{{.NetworkSettings.IPAddress}}', 'web']).trim();
    assert.match(ip, /^10\.\d+\.0\.\d+$/);
    await waitFor(async () => (await curl(`http://${ip}:80/`)) === 'hello from httpd\n', 'container IP answers', 10000);
    assert.equal(await curl(`http://127.0.0.1:${port}/`), 'hello from httpd\n');
    assert.equal(await curl(`http://localhost:${port}/`), 'hello from httpd\n');
    assert.equal(await curl(`http://${hostAddress()}:${port}/`), 'hello from httpd\n');
    // As Docker 28: published on 0.0.0.0 and [::]; the IPv4-only container is reached over IPv6 through
    // the userland proxy, on the loopback and on the host's own IPv6 address.
    assert.equal(d_(d, ['port', 'web']).trim(), `80/tcp -> 0.0.0.0:${port}\n80/tcp -> [::]:${port}`);
    assert.equal(
      d_(d, ['ps', '--format', '{{.Ports}}', '--filter', 'name=web']).trim(),
      `0.0.0.0:${port}->80/tcp, [::]:${port}->80/tcp`,
    );
    assert.equal(await curl(`http://[::1]:${port}/`), 'hello from httpd\n');
    const hostV6 = Object.values(networkInterfaces())
      .flat()
      .find((a) => a?.family === 'IPv6' && !a.internal && !a.address.startsWith('fe80'))?.address;
    if (hostV6) assert.equal(await curl(`http://[${hostV6}]:${port}/`), 'hello from httpd\n');
    // Another container reaches it through the host's address.
    assert.match(
      d_(d, ['run', '--rm', 'busybox', 'wget', '-qO-', `http://${hostAddress()}:${port}/`]),
      /hello from httpd/,
    );
    // The container reaches its own published port through the host's address (hairpin).
    assert.match(d_(d, ['exec', 'web', 'wget', '-qO-', `http://${hostAddress()}:${port}/`]), /hello from httpd/);
    assert.equal(readFileSync(`/sys/class/net/${vethOf(d, 'web')}/brport/hairpin_mode`, 'utf8').trim(), '1');
    // A second container asking for the same port is refused and does not start half-wired.
    const clash = docker(d, ['run', '-d', '--name', 'clash', '-p', `${port}:80`, 'busybox', 'sleep', '100']);
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated`));
    assert.equal(d_(d, ['inspect', '-f', '{{.State.Running}}', 'clash']).trim(), 'false');
    const ids = [
      d_(d, ['inspect', '-f', '{{.Id}}', 'web']).trim(),
      d_(d, ['inspect', '-f', '{{.Id}}', 'clash']).trim(),
    ];
    d_(d, ['rm', '-f', 'web', 'clash']);
    await noLeftovers(d, ids);
  });

  test('-P publishes exposed ports on ephemeral host ports; udp works', async () => {
    d_(d, [
      'run',
      '-d',
      '--name',
      'eph',
      '-P',
      '--expose',
      '8080',
      '-p',
      '5353/udp',
      'busybox',
      'httpd',
      '-f',
      '-p',
      '8080',
    ]);
    const ports = d_(d, ['port', 'eph']).trim().split('\n').sort();
    assert.equal(ports.length, 4, ports.join('\n'));
    assert.match(ports[0]!, /^5353\/udp -> 0\.0\.0\.0:\d+$/);
    assert.match(ports[1]!, /^5353\/udp -> \[::\]:\d+$/);
    assert.match(ports[2]!, /^8080\/tcp -> 0\.0\.0\.0:\d+$/);
    assert.match(ports[3]!, /^8080\/tcp -> \[::\]:\d+$/);
    // One ephemeral port for both families, as Docker allocates it.
    assert.equal(ports[2]!.split(':').pop(), ports[3]!.split(':').pop());
    const hostPort = ports[2]!.split(':').pop()!;
    await waitFor(
      async () => /404|Not Found/.test(await curl(`http://127.0.0.1:${hostPort}/`)),
      'ephemeral port answers',
      10000,
    );
    assert.match(await curl(`http://[::1]:${hostPort}/`), /404|Not Found/);
    d_(d, ['rm', '-f', 'eph']);
  });

  test('--net container:, --net host and --net none', () => {
    d_(d, ['run', '-d', '--name', 'first', 'busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']);
    assert.match(
      d_(d, ['run', '--rm', '--net', 'container:first', 'busybox', 'wget', '-qO-', 'http://localhost:8080/hostname']),
      /^[0-9a-f]{12}$/m,
    );
    const pid = d_(d, ['inspect', '-f', '{{.State.Pid}}', 'first']).trim();
    d_(d, ['run', '-d', '--name', 'second', '--net', 'container:first', 'busybox', 'sleep', '100']);
    const pid2 = d_(d, ['inspect', '-f', '{{.State.Pid}}', 'second']).trim();
    assert.equal(readlinkSync(`/proc/${pid}/ns/net`), readlinkSync(`/proc/${pid2}/ns/net`));
    d_(d, ['rm', '-f', 'second', 'first']);
    const hostNs = readlinkSync('/proc/self/ns/net');
    assert.equal(
      d_(d, ['run', '--rm', '--net', 'host', 'busybox', 'readlink', '/proc/1/ns/net']).trim(),
      hostNs.replace(/^net:/, 'net:'),
    );
    assert.deepEqual(d_(d, ['run', '--rm', '--net', 'none', 'busybox', 'ls', '/sys/class/net']).trim().split(/\s+/), [
      'lo',
    ]);
    assert.deepEqual(d_(d, ['run', '--rm', 'busybox', 'ls', '/sys/class/net']).trim().split(/\s+/), ['eth0', 'lo']);
  });

  test('seed 004: a page counter linked to Redis keeps counting across web containers; the same by name on a user network', async () => {
    const app = tempDir(cleanup);
    writeFileSync(
      path.join(app, 'counter.js'),
      `const http = require('http');
const net = require('net');
const host = process.env.REDIS_HOST || 'db';
function incr() {
  return new Promise((resolve, reject) => {
    const s = net.connect(6379, host);
    let data = '';
    s.on('error', reject);
    s.on('data', (c) => {
      data += c;
      const m = /^:(\\d+)\\r\\n/.exec(data);
      if (m) { s.destroy(); resolve(Number(m[1])); }
    });
    s.write('INCR hits\\r\\n');
  });
}
http.createServer(async (req, res) => {
  try { res.end('Page views: ' + (await incr()) + '\\n'); } catch (e) { res.statusCode = 500; res.end(String(e) + '\\n'); }
}).listen(8080);
`,
    );
    const port = await freePort();
    d_(d, ['run', '--name', 'db', '-d', 'redis']);
    const web = (name: string, extra: string[]): string =>
      d_(d, ['run', '-d', '--name', name, ...extra, '-v', `${app}:/app:ro`, 'node:20', 'node', '/app/counter.js']);
    web('web', ['--link', 'db:db', '-p', `${port}:8080`]);
    const count = async (): Promise<string> => (await curl(`http://127.0.0.1:${port}/`)).trim();
    await waitFor(async () => (await count()).startsWith('Page views'), 'counter answers', 20000);
    assert.equal(await count(), 'Page views: 2');
    assert.equal(await count(), 'Page views: 3');
    assert.match(d_(d, ['exec', 'web', 'cat', '/etc/hosts']), /\sdb\s/);
    d_(d, ['rm', '-f', 'web']);
    web('web', ['--link', 'db:db', '-p', `${port}:8080`]);
    await waitFor(async () => (await count()).startsWith('Page views'), 'new counter answers', 20000);
    assert.equal(await count(), 'Page views: 5', 'the count continues in Redis');
    d_(d, ['rm', '-f', 'web', 'db']);

    d_(d, ['network', 'create', 'counter-net']);
    assert.match(d_(d, ['network', 'ls', '--format', '{{.Name}} {{.Driver}}']), /^counter-net bridge$/m);
    d_(d, ['run', '-d', '--name', 'db', '--network', 'counter-net', '--network-alias', 'cache', 'redis']);
    const port2 = await freePort();
    web('web2', ['--network', 'counter-net', '-p', `${port2}:8080`]);
    const count2 = async (): Promise<string> => (await curl(`http://127.0.0.1:${port2}/`)).trim();
    await waitFor(async () => (await count2()).startsWith('Page views'), 'counter on the user network answers', 20000);
    assert.equal(await count2(), 'Page views: 2');
    const dbIp = d_(d, ['inspect', '-f', '{{(index .NetworkSettings.Networks "counter-net").IPAddress}}', 'db']).trim();
    assert.match(
      d_(d, ['run', '--rm', '--network', 'counter-net', 'busybox', 'nslookup', 'cache']),
      new RegExp(`Address:\\s+${dbIp.replace(/\./g, '\\.')}`),
    );
    const inspect = JSON.parse(d_(d, ['network', 'inspect', 'counter-net'])) as Array<{
      Containers: Record<string, { Name: string }>;
    }>;
    assert.deepEqual(
      Object.values(inspect[0]!.Containers)
        .map((c) => c.Name)
        .sort(),
      ['db', 'web2'],
    );
    assert.notEqual(docker(d, ['network', 'rm', 'counter-net']).code, 0, 'a network in use cannot be removed');
    // A running container joins the network, resolves its names, and leaves it again.
    d_(d, ['run', '-d', '--name', 'joiner', 'busybox', 'sleep', '100']);
    d_(d, ['network', 'connect', 'counter-net', 'joiner']);
    assert.deepEqual(d_(d, ['exec', 'joiner', 'ls', '/sys/class/net']).trim().split(/\s+/), ['eth0', 'eth1', 'lo']);
    assert.match(d_(d, ['exec', 'joiner', 'nslookup', 'db']), new RegExp(`Address:\\s+${dbIp.replace(/\./g, '\\.')}`));
    d_(d, ['network', 'disconnect', 'counter-net', 'joiner']);
    assert.deepEqual(d_(d, ['exec', 'joiner', 'ls', '/sys/class/net']).trim().split(/\s+/), ['eth0', 'lo']);
    d_(d, ['rm', '-f', 'joiner']);
    d_(d, ['rm', '-f', 'web2', 'db']);
    d_(d, ['network', 'rm', 'counter-net']);
    assert.doesNotMatch(d_(d, ['network', 'ls']), /counter-net/);
  });

  test('--link gives the legacy variables; rm --link forgets the link; a stopped target fails the start', () => {
    d_(d, [
      'run',
      '-d',
      '--name',
      'linkdb',
      '--expose',
      '6379',
      '--expose',
      '53/udp',
      '-e',
      'SECRET=s3',
      'busybox',
      'sleep',
      '100',
    ]);
    d_(d, ['run', '-d', '--name', 'linkweb', '--link', 'linkdb:my-cache', 'busybox', 'sleep', '100']);
    const dbIp = d_(d, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'linkdb']).trim();
    const env = d_(d, ['exec', 'linkweb', 'env']);
    for (const want of [
      `MY_CACHE_PORT=tcp://${dbIp}:6379`,
      `MY_CACHE_PORT_6379_TCP_ADDR=${dbIp}`,
      'MY_CACHE_PORT_6379_TCP_PORT=6379',
      `MY_CACHE_PORT_53_UDP=udp://${dbIp}:53`,
      'MY_CACHE_NAME=/linkweb/my-cache',
      'MY_CACHE_ENV_SECRET=s3',
    ])
      assert.ok(env.split('\n').includes(want), `${want} in\n${env}`);
    assert.doesNotMatch(env, /MY_CACHE_ENV_PATH=/);
    assert.equal(
      d_(d, ['inspect', '-f', '{{json .HostConfig.Links}}', 'linkweb']).trim(),
      '["/linkdb:/linkweb/my-cache"]',
    );
    const defaultName = docker(d, ['rm', '--link', 'linkdb']);
    assert.notEqual(defaultName.code, 0);
    assert.match(defaultName.stderr, /Conflict, cannot remove the default link name of the container/);
    assert.match(docker(d, ['rm', '--link', 'linkweb/nope']).stderr, /No such container: linkweb\/nope/);
    assert.equal(d_(d, ['rm', '--link', '/linkweb/my-cache']).trim(), '/linkweb/my-cache');
    assert.equal(d_(d, ['inspect', '-f', '{{json .HostConfig.Links}}', 'linkweb']).trim(), 'null');
    assert.equal(d_(d, ['ps', '-q', '--filter', 'name=linkdb']).trim().length, 12, 'the target stays');
    d_(d, ['restart', '-t', '0', 'linkweb']);
    assert.doesNotMatch(d_(d, ['exec', 'linkweb', 'env']), /MY_CACHE_/);
    d_(d, ['create', '--name', 'linkweb2', '--link', 'linkdb', 'busybox', 'sleep', '100']);
    d_(d, ['stop', '-t', '0', 'linkdb']);
    const stopped = docker(d, ['start', 'linkweb2']);
    assert.notEqual(stopped.code, 0);
    assert.match(stopped.stderr, /Cannot link to a non running container: \/linkdb AS \/linkweb2\/linkdb/);
    d_(d, ['rm', '-f', 'linkweb', 'linkweb2', 'linkdb']);
  });

  test('volumes: shared named volume outlives its containers; read-only bind; image VOLUME gives an anonymous volume', () => {
    d_(d, ['volume', 'create', 'shared']);
    d_(d, ['run', '--rm', '-v', 'shared:/data', 'busybox', 'sh', '-c', 'echo kept > /data/file']);
    assert.equal(
      d_(d, [
        'run',
        '--rm',
        '--mount',
        'type=volume,source=shared,target=/other',
        'busybox',
        'cat',
        '/other/file',
      ]).trim(),
      'kept',
    );
    d_(d, ['run', '-d', '--name', 'holder', '-v', 'shared:/data', 'busybox', 'sleep', '100']);
    const inUse = docker(d, ['volume', 'rm', 'shared']);
    assert.notEqual(inUse.code, 0);
    assert.match(inUse.stderr, /volume is in use/);
    d_(d, ['rm', '-f', 'holder']);
    assert.match(d_(d, ['volume', 'ls', '--format', '{{.Name}}']), /^shared$/m);
    const mp = JSON.parse(d_(d, ['volume', 'inspect', 'shared'])) as Array<{ Mountpoint: string }>;
    assert.equal(readFileSync(path.join(mp[0]!.Mountpoint, 'file'), 'utf8'), 'kept\n');

    const hostDir = tempDir(cleanup);
    writeFileSync(path.join(hostDir, 'ro.txt'), 'read only\n');
    assert.equal(d_(d, ['run', '--rm', '-v', `${hostDir}:/h:ro`, 'busybox', 'cat', '/h/ro.txt']), 'read only\n');
    const write = docker(d, ['run', '--rm', '-v', `${hostDir}:/h:ro`, 'busybox', 'touch', '/h/new']);
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /Read-only file system/);
    assert.equal(existsSync(path.join(hostDir, 'new')), false);

    // redis declares VOLUME /data: an anonymous volume appears in Mounts and goes with rm -v.
    d_(d, ['create', '--name', 'withvol', 'redis']);
    const mounts = JSON.parse(d_(d, ['inspect', '-f', '{{json .Mounts}}', 'withvol'])) as Array<{
      Type: string;
      Name: string;
      Destination: string;
    }>;
    assert.equal(mounts.length, 1);
    assert.equal(mounts[0]!.Type, 'volume');
    assert.equal(mounts[0]!.Destination, '/data');
    assert.match(d_(d, ['volume', 'ls', '-q']), new RegExp(`^${mounts[0]!.Name}$`, 'm'));
    d_(d, ['rm', '-v', 'withvol']);
    assert.doesNotMatch(d_(d, ['volume', 'ls', '-q']), new RegExp(mounts[0]!.Name));

    // Copy-up: an empty named volume receives the image's content at the mount point.
    assert.match(d_(d, ['run', '--rm', '-v', 'etcvol:/etc', 'busybox', 'cat', '/etc/group']), /^root:x:0:/m);
    d_(d, ['run', '-d', '--name', 'src', '-v', 'shared:/data', 'busybox', 'sleep', '100']);
    assert.equal(d_(d, ['run', '--rm', '--volumes-from', 'src', 'busybox', 'cat', '/data/file']).trim(), 'kept');
    d_(d, ['rm', '-f', 'src']);
    d_(d, ['volume', 'rm', 'shared', 'etcvol']);

    // --mount for binds and tmpfs; prune removes unused anonymous volumes, and named ones with --all.
    assert.equal(
      d_(d, [
        'run',
        '--rm',
        '--mount',
        `type=bind,source=${hostDir},target=/b,readonly`,
        'busybox',
        'cat',
        '/b/ro.txt',
      ]),
      'read only\n',
    );
    assert.match(
      d_(d, ['run', '--rm', '--mount', 'type=tmpfs,target=/t,tmpfs-size=1048576', 'busybox', 'df', '/t']),
      /tmpfs\s+1024\s/,
    );
    d_(d, ['create', '-v', '/anon', 'busybox']);
    d_(d, ['volume', 'create', 'unused']);
    d_(d, ['container', 'prune', '-f']);
    const pruned = d_(d, ['volume', 'prune', '-f']);
    assert.doesNotMatch(pruned, /unused/);
    assert.match(pruned, /Total reclaimed space/);
    assert.match(d_(d, ['volume', 'prune', '-af']), /unused/);
    assert.equal(d_(d, ['volume', 'ls', '-q']).trim(), '');
  });

  test('network options: --subnet and --gateway, --internal has no way out, prune removes unused networks', () => {
    d_(d, ['network', 'create', '--subnet', '10.252.9.0/24', '--gateway', '10.252.9.254', 'gwnet']);
    assert.equal(
      d_(d, ['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', 'gwnet']).trim(),
      '10.252.9.254',
    );
    assert.match(
      d_(d, ['run', '--rm', '--network', 'gwnet', 'busybox', 'ip', 'route']),
      /^default via 10\.252\.9\.254 dev eth0/m,
    );
    d_(d, ['network', 'create', '--internal', 'intnet']);
    assert.doesNotMatch(d_(d, ['run', '--rm', '--network', 'intnet', 'busybox', 'ip', 'route']), /default/);
    const overlap = docker(d, ['network', 'create', '--subnet', '10.252.9.0/25', 'overlapping']);
    assert.notEqual(overlap.code, 0);
    assert.match(overlap.stderr, /overlaps/);
    assert.match(d_(d, ['network', 'prune', '-f']), /gwnet[\s\S]*intnet|intnet[\s\S]*gwnet/);
    assert.doesNotMatch(d_(d, ['network', 'ls']), /gwnet|intnet/);
  });

  test('IPAM and endpoint options: ip-range, aux addresses, MTU, labels, attachable, static --ip and --mac-address on run and connect', () => {
    const net = 'net with spaces';
    d_(d, [
      'network',
      'create',
      '--subnet',
      '10.253.0.0/16',
      '--ip-range',
      '10.253.5.0/24',
      '--gateway',
      '10.253.0.254',
      '--aux-address',
      'router=10.253.5.1',
      '--attachable',
      '--label',
      'team=blue',
      '-o',
      'com.docker.network.driver.mtu=1400',
      net,
    ]);
    const info = JSON.parse(d_(d, ['network', 'inspect', net]))[0] as {
      IPAM: { Config: Array<Record<string, unknown>> };
      Attachable: boolean;
      Scope: string;
      Labels: Record<string, string>;
      Options: Record<string, string>;
    };
    assert.deepEqual(info.IPAM.Config, [
      {
        Subnet: '10.253.0.0/16',
        Gateway: '10.253.0.254',
        IPRange: '10.253.5.0/24',
        AuxiliaryAddresses: { router: '10.253.5.1' },
      },
    ]);
    assert.equal(info.Attachable, true);
    assert.equal(info.Scope, 'local');
    assert.deepEqual(info.Labels, { team: 'blue' });
    assert.equal(info.Options['com.docker.network.driver.mtu'], '1400');
    const dup = docker(d, ['network', 'create', net]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /network with name net with spaces already exists/);
    assert.match(
      docker(d, ['network', 'create', 'bridge']).stderr,
      /operation is not permitted on predefined bridge network/,
    );
    assert.match(
      docker(d, ['network', 'create', '--subnet', '10.254.0.1/16', 'badsubnet']).stderr,
      /invalid network config:\ninvalid subnet 10\.254\.0\.1\/16: it should be 10\.254\.0\.0\/16/,
    );
    assert.match(
      docker(d, ['network', 'create', '-o', 'com.docker.network.driver.mtu=9x', 'badmtu']).stderr,
      /invalid MTU number: 9x/,
    );

    d_(d, ['run', '-d', '--name', 'dyn', '--network', net, 'busybox', 'sleep', '100']);
    const dynIp = d_(d, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, 'dyn']).trim();
    assert.match(dynIp, /^10\.253\.5\.\d+$/, 'dynamic addresses come from the ip-range');
    assert.notEqual(dynIp, '10.253.5.1', 'an auxiliary address is never handed out');
    assert.match(d_(d, ['exec', 'dyn', 'ip', 'link', 'show', 'eth0']), /mtu 1400/);

    const mac = '92:d0:c6:0a:29:33';
    d_(d, [
      'run',
      '-d',
      '--name',
      'fixed',
      '--network',
      net,
      '--ip',
      '10.253.0.50',
      '--mac-address',
      mac,
      'busybox',
      'sleep',
      '100',
    ]);
    const shown = (): string =>
      d_(d, [
        'inspect',
        '-f',
        `{{with index .NetworkSettings.Networks "${net}"}}{{.IPAddress}} {{.MacAddress}} {{.IPAMConfig.IPv4Address}}{{end}}`,
        'fixed',
      ]).trim();
    assert.equal(shown(), `10.253.0.50 ${mac} 10.253.0.50`);
    const link = d_(d, ['exec', 'fixed', 'ip', 'addr', 'show', 'eth0']);
    assert.match(link, new RegExp(`link/ether ${mac}`));
    assert.match(link, /inet 10\.253\.0\.50\/16/);
    assert.match(d_(d, ['exec', 'dyn', 'ping', '-c', '1', '-W', '2', '10.253.0.50']), /1 packets received/);
    d_(d, ['restart', '-t', '0', 'fixed']);
    assert.equal(shown(), `10.253.0.50 ${mac} 10.253.0.50`, 'address and MAC stay across a restart');

    const taken = docker(d, [
      'run',
      '-d',
      '--name',
      'taken',
      '--network',
      net,
      '--ip',
      '10.253.0.50',
      'busybox',
      'sleep',
      '100',
    ]);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /Address already in use/);
    assert.match(
      docker(d, ['create', '--network', net, '--ip', '10.99.0.5', 'busybox']).stderr,
      /invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10\.99\.0\.5/,
    );
    assert.match(
      docker(d, ['create', '--ip', '10.99.0.5', 'busybox']).stderr,
      /user specified IP address is supported on user defined networks only/,
    );
    const badMac = createViaApi(d, {
      Image: 'busybox',
      NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: '92:d0:c6' } } },
    }).body;
    assert.deepEqual(JSON.parse(badMac), { message: 'invalid MAC address 92:d0:c6' });
    d_(d, ['network', 'create', 'pooled']);
    assert.match(
      docker(d, ['create', '--network', 'pooled', '--ip', '10.253.0.9', 'busybox']).stderr,
      /user specified IP address is supported only when connecting to networks with user configured subnets/,
    );

    // Connect a running container with a static address and an alias.
    d_(d, ['run', '-d', '--name', 'joiner', 'busybox', 'sleep', '100']);
    d_(d, ['network', 'connect', '--ip', '10.253.0.77', '--alias', 'door', net, 'joiner']);
    assert.match(d_(d, ['exec', 'joiner', 'ip', 'addr', 'show', 'eth1']), /inet 10\.253\.0\.77\/16/);
    assert.match(d_(d, ['exec', 'dyn', 'nslookup', 'door']), /Address:\s+10\.253\.0\.77/);
    d_(d, ['rm', '-f', 'dyn', 'fixed', 'taken', 'joiner']);
    d_(d, ['network', 'rm', net, 'pooled']);
  });

  test('links and link-local addresses on a user-defined network, at run and on connect', () => {
    d_(d, ['network', 'create', 'linknet']);
    d_(d, ['run', '-d', '--name', 'lktarget', '--network', 'linknet', 'busybox', 'sleep', '100']);
    const ip = d_(d, ['inspect', '-f', '{{(index .NetworkSettings.Networks "linknet").IPAddress}}', 'lktarget']).trim();
    d_(d, [
      'run',
      '-d',
      '--name',
      'lkuser',
      '--network',
      'linknet',
      '--link',
      'lktarget:buddy',
      '--link-local-ip',
      '169.254.10.10',
      'busybox',
      'sleep',
      '100',
    ]);
    assert.match(d_(d, ['exec', 'lkuser', 'nslookup', 'buddy']), new RegExp(`Address:\\s+${ip.replace(/\./g, '\\.')}`));
    assert.match(d_(d, ['exec', 'lkuser', 'ip', 'addr', 'show', 'eth0']), /inet 169\.254\.10\.10\/16/);
    assert.equal(
      d_(d, ['inspect', '-f', '{{json .HostConfig.Links}}', 'lkuser']).trim(),
      'null',
      'no legacy link is kept',
    );
    d_(d, ['run', '-d', '--name', 'lkother', '--network', 'linknet', 'busybox', 'sleep', '100']);
    assert.notEqual(
      docker(d, ['exec', 'lkother', 'nslookup', 'buddy']).code,
      0,
      "a link alias is the linking container's own",
    );
    d_(d, ['run', '-d', '--name', 'lkjoiner', 'busybox', 'sleep', '100']);
    d_(d, ['network', 'connect', '--link', 'lktarget:pal', 'linknet', 'lkjoiner']);
    assert.match(d_(d, ['exec', 'lkjoiner', 'nslookup', 'pal']), new RegExp(`Address:\\s+${ip.replace(/\./g, '\\.')}`));
    assert.match(
      docker(d, ['create', '--network', 'host', '--link', 'lktarget:x', 'busybox']).stderr,
      /conflicting options: host type networking can't be used with links/,
    );
    d_(d, ['rm', '-f', 'lktarget', 'lkuser', 'lkother', 'lkjoiner']);
    d_(d, ['network', 'rm', 'linknet']);
  });

  test('IPv6 networks: --ipv6 with a subnet or a ULA of its own, dynamic and static (--ip6) addresses, AAAA from the embedded DNS', () => {
    d_(d, ['network', 'create', '--ipv6', '--subnet', 'fd7e:1:2:3::/64', 'v6net']);
    const info = JSON.parse(d_(d, ['network', 'inspect', 'v6net']))[0] as {
      EnableIPv6: boolean;
      IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
    };
    assert.equal(info.EnableIPv6, true);
    assert.deepEqual(info.IPAM.Config[1], { Subnet: 'fd7e:1:2:3::/64', Gateway: 'fd7e:1:2:3::1' });
    d_(d, ['run', '-d', '--name', 'v6dyn', '--network', 'v6net', 'busybox', 'sleep', '100']);
    d_(d, [
      'run',
      '-d',
      '--name',
      'v6fixed',
      '--network',
      'v6net',
      '--ip6',
      'fd7e:1:2:3::99',
      'busybox',
      'sleep',
      '100',
    ]);
    const dyn = d_(d, [
      'inspect',
      '-f',
      '{{(index .NetworkSettings.Networks "v6net").GlobalIPv6Address}}',
      'v6dyn',
    ]).trim();
    assert.match(dyn, /^fd7e:1:2:3::[0-9a-f]+$/);
    assert.equal(
      d_(d, [
        'inspect',
        '-f',
        '{{with index .NetworkSettings.Networks "v6net"}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}}{{end}}',
        'v6fixed',
      ]).trim(),
      'fd7e:1:2:3::99/64 fd7e:1:2:3::1',
    );
    assert.match(d_(d, ['exec', 'v6fixed', 'ip', '-6', 'addr', 'show', 'eth0']), /inet6 fd7e:1:2:3::99\/64/);
    assert.match(d_(d, ['exec', 'v6fixed', 'ip', '-6', 'route']), /default via fd7e:1:2:3::1/);
    assert.match(d_(d, ['exec', 'v6dyn', 'ping', '-6', '-c', '1', '-W', '3', 'fd7e:1:2:3::99']), /1 packets received/);
    assert.match(
      run('busybox', ['ping', '-6', '-c', '1', '-W', '3', 'fd7e:1:2:3::99']).stdout,
      /1 (packets )?received/,
      'the host reaches it through the bridge',
    );
    assert.match(d_(d, ['exec', 'v6dyn', 'nslookup', '-type=AAAA', 'v6fixed']), /fd7e:1:2:3::99/);
    const attached = JSON.parse(d_(d, ['network', 'inspect', 'v6net']))[0] as {
      Containers: Record<string, { Name: string; IPv6Address: string }>;
    };
    assert.ok(
      Object.values(attached.Containers).some((c) => c.Name === 'v6fixed' && c.IPv6Address === 'fd7e:1:2:3::99/64'),
    );
    const taken = docker(d, ['run', '-d', '--network', 'v6net', '--ip6', 'fd7e:1:2:3::99', 'busybox', 'sleep', '1']);
    assert.match(taken.stderr, /Address already in use/);
    assert.match(
      docker(d, ['create', '--network', 'v6net', '--ip6', 'fd7e:9::1', 'busybox']).stderr,
      /no configured subnet or ip-range contain the IP address fd7e:9::1/,
    );
    // An IPv6 ip-range and auxiliary address: dynamic addresses come from the range, past the reserved one.
    d_(
      d,
      ['network', 'create', '--ipv6', '--subnet', 'fd7e:5::/64', '--ip-range', 'fd7e:5::100/120'].concat([
        '--aux-address',
        'router=fd7e:5::100',
        'v6range',
      ]),
    );
    const pools = JSON.parse(d_(d, ['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'v6range'])) as Array<{
      Subnet: string;
      IPRange?: string;
      AuxiliaryAddresses?: Record<string, string>;
    }>;
    assert.deepEqual(
      pools.filter((p) => p.Subnet.includes(':')).map((p) => [p.IPRange, p.AuxiliaryAddresses]),
      [['fd7e:5::100/120', { router: 'fd7e:5::100' }]],
    );
    d_(d, ['run', '-d', '--name', 'v6ranged', '--network', 'v6range', 'busybox', 'sleep', '300']);
    assert.equal(
      d_(d, ['inspect', '-f', '{{(index .NetworkSettings.Networks "v6range").GlobalIPv6Address}}', 'v6ranged']).trim(),
      'fd7e:5::101',
    );
    d_(d, ['rm', '-f', 'v6ranged']);
    d_(d, ['network', 'rm', 'v6range']);
    d_(d, ['network', 'create', '--ipv6', 'v6auto']);
    const auto = d_(d, ['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}} {{end}}', 'v6auto'])
      .trim()
      .split(' ');
    assert.match(auto[1] ?? '', /^fd[0-9a-f:]+::\/64$/, 'a unique local /64 of its own');
    d_(d, ['network', 'create', 'v4only']);
    assert.match(
      docker(d, ['create', '--network', 'v4only', '--ip6', 'fd7e:1:2:3::5', 'busybox']).stderr,
      /user specified IP address is supported only when connecting to networks with user configured subnets/,
    );
    d_(d, ['rm', '-f', 'v6dyn', 'v6fixed']);
    for (const id of d_(d, ['ps', '-aq', '--filter', 'network=v6net']).trim().split('\n').filter(Boolean))
      d_(d, ['rm', '-f', id]);
    d_(d, ['network', 'rm', 'v6net', 'v6auto', 'v4only']);
  });

  test('IPv6 NAT: a container on an IPv6 network reaches another machine over IPv6, masqueraded as the host', async () => {
    // Another machine: a network namespace on a veth pair with IPv6 addresses of a range of its own.
    const tag = randomBytes(3).toString('hex');
    const ns = `gantry-v6-${tag}`;
    const [hostEnd, nsEnd] = [`gv6h${tag}`, `gv6n${tag}`];
    const prefix = `fd00:${tag.slice(0, 4)}:${tag.slice(4)}::`;
    cleanup.add(() => {
      run('ip', ['netns', 'del', ns]);
      run('ip', ['link', 'del', hostEnd]);
    });
    for (const args of [
      ['netns', 'add', ns],
      ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd],
      ['link', 'set', nsEnd, 'netns', ns],
      ['-6', 'addr', 'add', `${prefix}1/64`, 'dev', hostEnd, 'nodad'],
      ['link', 'set', hostEnd, 'up'],
      ['-n', ns, '-6', 'addr', 'add', `${prefix}2/64`, 'dev', nsEnd, 'nodad'],
      ['-n', ns, 'link', 'set', nsEnd, 'up'],
      ['-n', ns, '-6', 'route', 'add', 'default', 'via', `${prefix}1`],
    ])
      ok('ip', args);
    const port = await freePort();
    // It answers each connection with the address it came from.
    startProcess(
      cleanup,
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        '-e',
        `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(${port}, '${prefix}2')`,
      ],
      path.join(tempDir(cleanup), 'listener.log'),
    );
    await waitFor(
      () => run('ip', ['netns', 'exec', ns, 'ss', '-Htln', `sport = :${port}`]).stdout.includes(String(port)),
      'the listener',
      10000,
    );
    d_(d, ['network', 'create', '--ipv6', '--subnet', `fd7e:${tag.slice(0, 4)}::/64`, 'v6nat']);
    try {
      const seen = d_(d, ['run', '--rm', '--network', 'v6nat', 'busybox', 'nc', `${prefix}2`, String(port)]).trim();
      // Compared in canonical form: the random groups may have leading zeros the listener does not write.
      const canonical = (address: string): string => {
        try {
          return new URL(`http://[${address}]/`).hostname;
        } catch {
          return address;
        }
      };
      assert.equal(canonical(seen), canonical(`${prefix}1`), 'the other machine sees the host, not the container');
      assert.match(
        run('ip6tables', ['-t', 'nat', '-S', 'POSTROUTING']).stdout,
        new RegExp(`-s fd7e:${tag.slice(0, 4)}::/64 .*MASQUERADE`),
      );
    } finally {
      d_(d, ['network', 'rm', 'v6nat']);
    }
    assert.doesNotMatch(
      run('ip6tables', ['-t', 'nat', '-S', 'POSTROUTING']).stdout,
      new RegExp(`fd7e:${tag.slice(0, 4)}::/64`),
      'its rules go with the network',
    );
  });

  test('a port published from an IPv6 network answers on 0.0.0.0 and on [::1]', async () => {
    const port = await freePort();
    d_(d, ['network', 'create', '--ipv6', '--subnet', 'fd7e:5:6:7::/64', 'v6pub']);
    const www = path.join(d.dataRoot, 'www6');
    mkdirSync(www, { recursive: true });
    writeFileSync(path.join(www, 'index.html'), 'over v6\n');
    d_(
      d,
      ['run', '-d', '--name', 'v6web', '--network', 'v6pub', '-p', `${port}:80`, '-v', `${www}:/www:ro`].concat([
        'busybox',
        'httpd',
        '-f',
        '-p',
        '80',
        '-h',
        '/www',
      ]),
    );
    try {
      await waitFor(async () => (await curl(`http://127.0.0.1:${port}/`)) === 'over v6\n', 'IPv4 answers', 10000);
      assert.equal(await curl(`http://[::1]:${port}/`), 'over v6\n');
    } finally {
      d_(d, ['rm', '-f', 'v6web']);
      d_(d, ['network', 'rm', 'v6pub']);
    }
  });

  test('the gantry CLI: run -p -v --network, port, network and volume commands', async () => {
    const g = (args: string[]): string => ok(GANTRY, args, { env: d.env });
    const port = await freePort();
    g(['network', 'create', '--subnet', '10.251.7.0/24', 'gnet']);
    assert.match(g(['network', 'ls']), /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$[\s\S]*\sgnet\s+bridge\s+local$/m);
    assert.equal(g(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', 'gnet']).trim(), '10.251.7.1');
    g(['volume', 'create', 'gvol']);
    assert.match(g(['volume', 'ls']), /^local\s+gvol$/m);
    g([
      'run',
      '-d',
      '--name',
      'gweb',
      '--network',
      'gnet',
      '--network-alias',
      'site',
      '-p',
      `127.0.0.1:${port}:80`,
      '-v',
      'gvol:/www',
      'busybox',
      'sh',
      '-c',
      'echo g > /www/index.html; httpd -f -p 80 -h /www',
    ]);
    assert.equal(g(['port', 'gweb']).trim(), `80/tcp -> 127.0.0.1:${port}`);
    assert.equal(g(['port', 'gweb', '80']).trim(), `127.0.0.1:${port}`);
    await waitFor(
      async () => (await curl(`http://127.0.0.1:${port}/`)) === 'g\n',
      'gantry-run container answers',
      10000,
    );
    assert.match(g(['run', '--rm', '--network', 'gnet', 'busybox', 'wget', '-qO-', 'http://site/']), /^g$/m);
    assert.match(
      g(['ps', '--format', '{{.Ports}}', '--filter', 'name=gweb']),
      new RegExp(`127\\.0\\.0\\.1:${port}->80/tcp`),
    );
    g(['rm', '-f', 'gweb']);
    g(['volume', 'rm', 'gvol']);
    g(['network', 'rm', 'gnet']);
    assert.doesNotMatch(g(['network', 'ls', '-q', '--no-trunc']), /gnet/);
  });

  test(
    'docker-py: run with ports, volumes and a network',
    { skip: !hasPython('docker') && 'python3 docker module not installed' },
    async () => {
      const port = await freePort();
      const script = `
import docker, urllib.request, time
c = docker.DockerClient(base_url='${d.host}')
net = c.networks.create('pynet')
vol = c.volumes.create('pyvol')
ct = c.containers.run('busybox', ['sh', '-c', 'echo from-volume > /v/index.html; httpd -f -p 80 -h /v'], detach=True, name='pyweb',
                      ports={'80/tcp': ${port}}, volumes={'pyvol': {'bind': '/v', 'mode': 'rw'}}, network='pynet')
for _ in range(50):
    try:
        print(urllib.request.urlopen('http://127.0.0.1:${port}/').read().decode().strip()); break
    except Exception:
        time.sleep(0.2)
ct.reload()
print(ct.attrs['NetworkSettings']['Networks']['pynet']['IPAddress'] != '')
print(ct.ports['80/tcp'][0]['HostPort'])
ct.remove(force=True)
net.remove()
vol.remove()
`;
      const out = run('python3', ['-c', script]);
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(out.stdout.trim().split('\n'), ['from-volume', 'True', String(port)]);
    },
  );
});

describe('network cleanup and crash', () => {
  const cleanup = new Cleanup();
  let d: Daemon;
  before(async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
    d_(d, ['pull', '-q', 'busybox']);
  });
  after(() => cleanup.run());

  test('50 containers with published ports leave no veth, rule, lease or netns behind', async () => {
    // Started ten at a time: concurrent starts must never share an address or a port.
    const ids: string[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const started = await Promise.all(
        Array.from({ length: 10 }, () =>
          runAsync('docker', ['run', '-d', '-p', '80', 'busybox', 'sleep', '300'], { env: d.env }),
        ),
      );
      for (const r of started) {
        assert.equal(r.code, 0, r.stderr);
        ids.push(r.stdout.trim());
      }
    }
    const addresses = new Set(ids.map((id) => d_(d, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', id]).trim()));
    assert.equal(addresses.size, 50, 'fifty distinct addresses');
    assert.equal(run('sh', ['-c', `ls /sys/class/net/${d.bridge}/brif | wc -l`]).stdout.trim(), '50');
    // Half removed while running, half after they stopped.
    d_(d, ['rm', '-f', ...ids.slice(0, 25)]);
    d_(d, ['stop', '-t', '0', ...ids.slice(25)]);
    d_(d, ['rm', ...ids.slice(25)]);
    await noLeftovers(d, ids);
  });

  test('kill -9 of the daemon: published ports keep answering; after restart they are held and cleaned up', async () => {
    const port = await freePort();
    d_(d, ['run', '--rm', '-v', 'durable:/d', 'busybox', 'sh', '-c', 'echo kept across the crash > /d/f']);
    const id = d_(d, [
      'run',
      '-d',
      '-p',
      `${port}:80`,
      'busybox',
      'sh',
      '-c',
      'echo survived > /i; httpd -f -p 80 -h /',
    ]).trim();
    await waitFor(async () => (await curl(`http://127.0.0.1:${port}/i`)) === 'survived\n', 'port answers', 10000);
    d.proc.kill('SIGKILL');
    await new Promise((r) => d.proc.once('exit', r));
    assert.equal(await curl(`http://127.0.0.1:${port}/i`), 'survived\n', 'answers while the daemon is down');
    d = await restartDaemon(cleanup, d);
    assert.equal(await curl(`http://127.0.0.1:${port}/i`), 'survived\n', 'answers after the restart');
    assert.equal(d_(d, ['run', '--rm', '-v', 'durable:/d', 'busybox', 'cat', '/d/f']).trim(), 'kept across the crash');
    d_(d, ['volume', 'rm', 'durable']);
    const clash = docker(d, ['run', '-d', '-p', `${port}:80`, 'busybox', 'true']);
    assert.match(clash.stderr, /port is already allocated/);
    const clashId = run('docker', ['ps', '-aq', '--no-trunc', '--filter', 'status=created'], { env: d.env })
      .stdout.trim()
      .split('\n')
      .filter(Boolean);
    d_(d, ['rm', '-f', id, ...clashId]);
    await noLeftovers(d, [id]);
  });
});
