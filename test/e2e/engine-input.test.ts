/**
 * Issue 19: the Engine API checks every body against Docker's types before anything is stored. Valid
 * bodies of create, update, exec, network create and connect, and volume create are mutated field by
 * field (every field, nested ones included, replaced by values of every other JSON shape, out-of-range
 * numbers and over-long strings): each answer is a 4xx or a real success, never a 5xx or a hang, and
 * afterwards the docker CLI and docker-py still read every listing. Uploads that are not archives are
 * refused before the 200, and one container's concurrent state changes happen one after another.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  Cleanup,
  docker,
  hasPython,
  ok,
  run,
  seedRegistry,
  startDaemon,
  startRegistry,
  waitFor,
  type Daemon,
} from './helpers.js';
import { fieldPaths, PALETTE, replaced, type Json } from './fuzz.js';

describe('Engine API input', () => {
  const cleanup = new Cleanup();
  let d: Daemon;

  function post(p: string, body: string, method = 'POST'): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: d.sock,
          path: p,
          method,
          headers: { 'Content-Type': 'application/json' },
          timeout: 30_000,
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${p} hung`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  before(async () => {
    const reg = await startRegistry(cleanup, 'gantry');
    seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
    d = await startDaemon(cleanup, { mirror: `http://${reg.addr}` });
    ok('docker', ['pull', '-q', 'busybox'], { env: d.env });
    ok('docker', ['create', '--name', 'target', 'busybox', 'sleep', '60'], { env: d.env });
    ok('docker', ['network', 'create', 'fuzznet'], { env: d.env });
  });
  after(() => cleanup.run());

  test('the bodies the chaos pass found are refused with Docker words, nothing stored', async () => {
    const before_ = docker(d, ['ps', '-aq']).stdout;
    const cases: Array<[string, Json | string, RegExp]> = [
      ['/containers/create', { Image: 'busybox', Env: [1, 2] }, /Go struct field CreateRequest\.Env of type string/],
      [
        '/containers/create',
        { Image: 'busybox', HostConfig: 'x' },
        /cannot unmarshal string into Go struct field CreateRequest\.HostConfig of type container\.HostConfig/,
      ],
      ['/containers/create', { Image: 'busybox', Labels: ['a'] }, /CreateRequest\.Labels of type map\[string\]string/],
      ['/containers/create', '"x"', /Go value of type container\.CreateRequest/],
      [
        '/containers/create',
        { Image: 'busybox', HostConfig: { OomScoreAdj: 5000 } },
        /Invalid value 5000, range for oom score adj is \[-1000, 1000\]/,
      ],
      [
        '/containers/create',
        { Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'sometimes' } } },
        /invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'/,
      ],
      [
        '/containers/create',
        { Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } } },
        /maximum retry count can only be used with 'on-failure'/,
      ],
      ['/containers/create', { Image: 'busybox', StopSignal: 'SIGBOGUS' }, /Invalid signal: SIGBOGUS/],
      [
        '/containers/create',
        { Image: 'busybox', Healthcheck: { Test: ['CMD', 'true'], Interval: 5 } },
        /Interval in Healthcheck cannot be less than 1ms/,
      ],
      ['/containers/target/update', { RestartPolicy: { Name: 'bogus' } }, /unknown policy 'bogus'/],
      ['/networks/create', { Name: 'n1', Labels: ['a'] }, /network\.CreateRequest|CreateRequest\.Labels/],
      ['/volumes/create', { Name: 'v1', DriverOpts: 'x' }, /CreateOptions\.DriverOpts of type map\[string\]string/],
    ];
    for (const [p, body, message] of cases) {
      const r = await post(p, typeof body === 'string' ? body : JSON.stringify(body));
      assert.equal(r.status, 400, `${p} ${JSON.stringify(body)}: ${r.text}`);
      assert.match(JSON.parse(r.text).message, message);
    }
    const escape = run('curl', ['-s', '-w', '%{http_code}', '--unix-socket', d.sock, 'http://d/containers/%zz/json']);
    assert.match(escape.stdout, /400$/);
    assert.equal(docker(d, ['ps', '-aq']).stdout, before_, 'nothing was created');
    assert.doesNotMatch(docker(d, ['network', 'ls']).stdout, /\bn1\b/);
    assert.equal(docker(d, ['volume', 'ls', '-q', '-f', 'name=v1']).stdout, '');
  });

  test('log drivers: json-file by default, local and none work, an unknown driver or option is refused at create', () => {
    const bogus = docker(d, ['create', '--log-driver', 'bogus', 'busybox', 'true']);
    assert.equal(bogus.code, 1);
    assert.match(bogus.stderr, /logger: no log driver named 'bogus' is registered/);
    const opt = docker(d, ['create', '--log-opt', 'colour=red', 'busybox', 'true']);
    assert.equal(opt.code, 1);
    assert.match(opt.stderr, /unknown log opt 'colour' for json-file log driver/);
    ok('docker', ['run', '--name', 'logs-default', 'busybox', 'echo', 'kept'], { env: d.env });
    assert.equal(
      docker(d, ['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'logs-default']).stdout.trim(),
      'json-file',
    );
    ok(
      'docker',
      [
        'run',
        '--name',
        'logs-local',
        '--log-driver',
        'local',
        '--log-opt',
        'max-size=1m',
        'busybox',
        'echo',
        'local-kept',
      ],
      { env: d.env },
    );
    assert.equal(ok('docker', ['logs', 'logs-local'], { env: d.env }).trim(), 'local-kept');
    ok('docker', ['run', '--name', 'logs-none', '--log-driver', 'none', 'busybox', 'echo', 'gone'], { env: d.env });
    const none = docker(d, ['logs', 'logs-none']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /configured logging driver does not support reading/);
    ok('docker', ['rm', 'logs-default', 'logs-local', 'logs-none'], { env: d.env });
  });

  test('uploads that are not archives are refused before the 200: load, import, build', async () => {
    const notTar = '{"this is":"not a tar"}'.repeat(10);
    const gzipHeaderThenJunk = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x42, 0x42]);
    for (const [p, what] of [
      ['/images/load', 'the image archive'],
      ['/images/create?fromSrc=-&repo=imported', 'the imported archive'],
      ['/build?t=fromjunk', 'the build context'],
    ]) {
      const junk = await post(p!, notTar);
      assert.equal(junk.status, 400, `${p}: ${junk.text}`);
      assert.equal(JSON.parse(junk.text).message, `${what} is not a tar archive: archive/tar: invalid tar header`);
      const empty = await post(p!, '');
      assert.equal(empty.status, 400, `${p}: ${empty.text}`);
      assert.match(JSON.parse(empty.text).message, /is empty: send a tar archive/);
      const gz = await post(p!, gzipHeaderThenJunk.toString('latin1'));
      assert.equal(gz.status, 400, `${p}: ${gz.text}`);
    }
    const load = docker(d, ['load'], { input: notTar });
    assert.equal(load.code, 1);
    assert.match(load.stderr, /the image archive is not a tar archive/);
    assert.equal(docker(d, ['images', '-q', 'imported']).stdout, '');
  });

  test("one container's state changes are serialized: two commits and a pause at once; a start racing rm", async () => {
    ok('docker', ['run', '-d', '--name', 'busy', 'busybox', 'sleep', '300'], { env: d.env });
    const [c1, c2, pause] = await Promise.all([
      post('/commit?container=busy&repo=snap1', ''),
      post('/commit?container=busy&repo=snap2', ''),
      post('/containers/busy/pause', ''),
    ]);
    assert.equal(c1.status, 201, c1.text);
    assert.equal(c2.status, 201, c2.text);
    assert.equal(pause.status, 204, pause.text);
    // The user's pause stands: no commit resumed it behind their back.
    assert.equal(docker(d, ['inspect', '-f', '{{.State.Status}}', 'busy']).stdout.trim(), 'paused');
    ok('docker', ['unpause', 'busy'], { env: d.env });
    ok('docker', ['rm', '-f', 'busy'], { env: d.env });
    ok('docker', ['rmi', 'snap1', 'snap2'], { env: d.env });

    for (let round = 0; round < 5; round++) {
      ok('docker', ['create', '--name', `racer${round}`, 'busybox', 'sleep', '300'], { env: d.env });
      const [removed, started] = await Promise.all([
        post(`/containers/racer${round}?force=1`, '', 'DELETE'),
        post(`/containers/racer${round}/start`, ''),
      ]);
      assert.equal(removed.status, 204, removed.text);
      assert.ok([204, 404].includes(started.status), `start during rm: ${started.status} ${started.text}`);
      assert.equal(docker(d, ['inspect', `racer${round}`]).code, 1, 'the container is gone');
    }
    // A killed process may take a moment to be reaped after `rm -f` answers; one still there after
    // seconds was left running.
    await waitFor(
      () => run('pgrep', ['-f', 'sleep 300']).stdout.trim() === '',
      'no container process to be left',
      5000,
    );
  });

  test('1,000+ bodies mutated field by field: a 4xx or a real success, never a 5xx; every listing still parses', async (t) => {
    const valid: Array<{ path: string; body: Json; name?: (n: number) => string }> = [
      {
        path: '/containers/create',
        body: {
          Image: 'busybox',
          Cmd: ['true'],
          Entrypoint: null,
          Env: ['A=1'],
          Labels: { a: 'b' },
          ExposedPorts: { '80/tcp': {} },
          Volumes: { '/data': {} },
          WorkingDir: '/',
          StopSignal: 'SIGTERM',
          StopTimeout: 5,
          Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9, Retries: 1 },
          HostConfig: {
            Memory: 64 << 20,
            CpuShares: 512,
            RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
            Binds: ['/tmp:/hosttmp:ro'],
            PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
            OomScoreAdj: 0,
            CapAdd: ['NET_ADMIN'],
            Dns: ['1.1.1.1'],
            ExtraHosts: ['h:10.0.0.1'],
            Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 100 }],
            LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } },
            Mounts: [{ Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 1 << 20 } }],
            Tmpfs: { '/run': 'size=1m' },
            ShmSize: 1 << 20,
          },
          NetworkingConfig: { EndpointsConfig: { fuzznet: { Aliases: ['a'] } } },
        },
      },
      {
        path: '/containers/target/update',
        body: { Memory: 128 << 20, MemorySwap: -1, CpuShares: 256, PidsLimit: 100, RestartPolicy: { Name: 'no' } },
      },
      {
        path: '/containers/target/exec',
        body: {
          Cmd: ['true'],
          Env: ['A=1'],
          AttachStdout: true,
          Tty: false,
          User: '',
          WorkingDir: '/',
          Privileged: false,
        },
      },
      {
        path: '/networks/create',
        body: {
          Name: 'fz',
          Driver: 'bridge',
          Internal: false,
          Attachable: true,
          Labels: { a: 'b' },
          Options: { 'com.docker.network.bridge.enable_icc': 'true' },
          IPAM: { Driver: 'default', Config: [{ Subnet: '172.31.250.0/24' }] },
        },
        name: (n) => `fz${n}`,
      },
      { path: '/networks/fuzznet/connect', body: { Container: 'target', EndpointConfig: { Aliases: ['x'] } } },
      {
        path: '/volumes/create',
        body: { Name: 'fz', Driver: 'local', Labels: { a: 'b' }, DriverOpts: {} },
        name: (n) => `fz${n}`,
      },
    ];
    let count = 0;
    const statuses = new Map<number, number>();
    const check = async (p: string, body: string): Promise<void> => {
      const r = await post(p, body);
      count++;
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.ok(
        r.status > 0 && r.status < 500,
        `POST ${p} ${body.slice(0, 300)} -> ${r.status}: ${r.text.slice(0, 300)}`,
      );
      // A network that took the subnet frees it for the next one.
      if (p === '/networks/create' && r.status === 201) docker(d, ['network', 'rm', JSON.parse(r.text).Id]);
    };
    for (const { path: p, body, name } of valid) {
      for (const junk of ['"x"', '[]', '42', 'true', '{', '\u0000', '{"a":1}{']) await check(p, junk);
      for (const at of fieldPaths(body)) {
        for (const value of PALETTE) {
          let mutated = replaced(body, at, value) as Record<string, Json>;
          // Names stay unique where they must, unless the name is what is mutated.
          if (name && at[0] !== 'Name') mutated = { ...mutated, Name: name(count) };
          await check(p, JSON.stringify(mutated));
        }
      }
    }
    assert.ok(count >= 1000, `${count} requests`);
    t.diagnostic(`${count} requests, answered ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.ok((statuses.get(400) ?? 0) > 300, `statuses: ${JSON.stringify([...statuses])}`);

    // Whatever was accepted is something every client reads back.
    for (const args of [
      ['ps', '-a', '--format', '{{json .}}'],
      ['network', 'ls', '--format', '{{json .}}'],
      ['volume', 'ls', '--format', '{{json .}}'],
      ['system', 'df', '-v'],
      ['inspect', 'target'],
    ]) {
      const r = docker(d, args);
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    }
    const ids = docker(d, ['ps', '-aq']).stdout.split('\n').filter(Boolean);
    assert.equal(docker(d, ['inspect', ...ids]).code, 0);
    if (hasPython('docker')) {
      const py = run(
        'python3',
        [
          '-c',
          `import docker
c = docker.DockerClient(base_url="${d.host}")
print(len(c.containers.list(all=True)), len(c.networks.list()), len(c.volumes.list()), len(c.images.list()))
c.df()`,
        ],
        { timeoutMs: 120_000 },
      );
      assert.equal(py.code, 0, py.stderr);
    }
    docker(d, [
      'rm',
      '-f',
      ...ids.filter((id) => !docker(d, ['inspect', '-f', '{{.Name}}', id]).stdout.includes('/target')),
    ]);
    docker(d, ['volume', 'prune', '-af']);
  });
});
