/**
 * Issue 3 acceptance: the seeds' container sequences through the real docker CLI and docker-py,
 * namespaces and cgroup limits, surviving a daemon crash, and leaving nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  Cleanup,
  createViaApi,
  docker,
  hasPython,
  ok,
  restartDaemon,
  run,
  seedRegistry,
  startDaemon,
  startRegistry,
  waitFor,
  type Daemon,
} from './helpers.js';

const d_ = (d: Daemon, args: string[]): string => ok('docker', args, { env: d.env });

/** A daemon whose Docker Hub mirror is a fresh gantry registry holding busybox. */
async function engineWithBusybox(cleanup: Cleanup): Promise<Daemon> {
  const reg = await startRegistry(cleanup, 'gantry');
  seedRegistry(reg, 'busybox:latest', 'library/busybox:latest');
  return startDaemon(cleanup, { mirror: `http://${reg.addr}` });
}

describe('containers through the docker CLI', () => {
  const cleanup = new Cleanup();
  let d: Daemon;
  before(async () => {
    d = await engineWithBusybox(cleanup);
  });
  after(() => cleanup.run());

  test('docker run busybox echo "Hello world" pulls through the mirror and prints', () => {
    const out = docker(d, ['run', 'busybox', 'echo', 'Hello world']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, 'Hello world\n');
    assert.match(out.stderr, /Unable to find image 'busybox:latest' locally/);
  });

  test('exit codes: own, 127 not found, 126 not executable', () => {
    assert.equal(docker(d, ['run', '--rm', 'busybox', 'sh', '-c', 'exit 3']).code, 3);
    const nf = docker(d, ['run', '--rm', 'busybox', 'no-such-command']);
    assert.equal(nf.code, 127);
    assert.match(nf.stderr, /executable file not found in \$PATH/);
    assert.equal(docker(d, ['run', '--rm', 'busybox', '/etc/passwd']).code, 126);
  });

  test('detached run, ps, inspect, logs, exec, stop, rm', () => {
    const id = d_(d, [
      'run',
      '--name',
      'kubia-container',
      '-d',
      'busybox',
      'sh',
      '-c',
      'trap "exit 0" TERM; echo Kubia server starting...; while true; do sleep 0.1; done',
    ]).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    const ps = d_(d, ['ps']);
    assert.match(ps, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/m);
    assert.match(ps, new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+.*Up .*kubia-container$`, 'm'));
    const state = JSON.parse(d_(d, ['inspect', 'kubia-container']))[0] as {
      State: { Running: boolean; Pid: number };
      Name: string;
      Id: string;
    };
    assert.equal(state.State.Running, true);
    assert.equal(state.Name, '/kubia-container');
    const all = d_(d, ['ps', '-aq']).trim().split('\n').length;
    assert.equal(d_(d, ['info', '--format', '{{.Containers}} {{.ContainersRunning}}']).trim(), `${all} 1`);
    assert.match(d_(d, ['system', 'df']), new RegExp(`^Containers\\s+${all}\\s+1\\s`, 'm'));
    assert.ok(state.State.Pid > 0);
    assert.match(d_(d, ['logs', 'kubia-container']), /Kubia server starting\.\.\./);
    const top = d_(d, ['exec', 'kubia-container', 'ps']);
    assert.match(top, /^\s*1 root\s+sh -c trap/m, 'the entry process is PID 1');
    assert.equal(docker(d, ['exec', 'kubia-container', 'sh', '-c', 'exit 7']).code, 7);
    assert.equal(
      run('docker', ['exec', '-i', 'kubia-container', 'cat'], { env: d.env, input: 'piped\n' }).stdout,
      'piped\n',
    );
    d_(d, ['stop', 'kubia-container']);
    assert.match(d_(d, ['ps', '-a', '--filter', 'name=kubia-container', '--format', '{{.Status}}']), /^Exited \(0\)/);
    d_(d, ['rm', 'kubia-container']);
    assert.equal(docker(d, ['inspect', 'kubia-container']).code, 1);
  });

  test('--group-add by name and number reaches the process and its execs; an unknown group is refused at start', () => {
    d_(d, [
      'run',
      '-d',
      '--name',
      'grouped',
      '--group-add',
      'www-data',
      '--group-add',
      '4321',
      'busybox',
      'sleep',
      '60',
    ]);
    const gid = d_(d, ['exec', 'grouped', 'sh', '-c', 'grep ^www-data: /etc/group | cut -d: -f3']).trim();
    for (const groups of [
      d_(d, ['exec', 'grouped', 'id', '-G']),
      d_(d, ['exec', 'grouped', 'cat', '/proc/1/status']),
    ]) {
      assert.match(groups, new RegExp(`\\b${gid}\\b`));
      assert.match(groups, /\b4321\b/);
    }
    d_(d, ['rm', '-f', 'grouped']);
    const bad = docker(d, ['run', '--rm', '--group-add', 'nosuchgroup', 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Unable to find group nosuchgroup: no matching entries in group file/);
  });

  test('hostname, and namespaces differ from the host but are shared with --net container:', () => {
    d_(d, [
      'run',
      '-h',
      'k8s-for-beginners',
      '-d',
      '--name',
      'named',
      'busybox',
      'httpd',
      '-f',
      '-p',
      '8080',
      '-h',
      '/etc',
    ]);
    assert.equal(d_(d, ['exec', 'named', 'hostname']).trim(), 'k8s-for-beginners');
    const pid = Number(d_(d, ['inspect', '-f', '{{.State.Pid}}', 'named']).trim());
    for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup']) {
      assert.notEqual(
        readlinkSync(`/proc/${pid}/ns/${ns}`),
        readlinkSync(`/proc/self/ns/${ns}`),
        `${ns} namespace must be the container's own`,
      );
    }
    const out = d_(d, [
      'run',
      '--rm',
      '--net',
      'container:named',
      'busybox',
      'wget',
      '-qO-',
      'localhost:8080/hostname',
    ]);
    assert.equal(out.trim(), 'k8s-for-beginners');
    d_(d, ['run', '-d', '--name', 'joined', '--net', 'container:named', 'busybox', 'sleep', '60']);
    const pid2 = Number(d_(d, ['inspect', '-f', '{{.State.Pid}}', 'joined']).trim());
    assert.equal(readlinkSync(`/proc/${pid2}/ns/net`), readlinkSync(`/proc/${pid}/ns/net`));
    assert.match(d_(d, ['run', '--rm', '--net', 'none', 'busybox', 'ip', '-o', 'link']), /^1: lo:/);
    assert.equal(
      d_(d, ['run', '--rm', '--net', 'host', 'busybox', 'readlink', '/proc/1/ns/net']).trim().length > 0,
      true,
    );
    d_(d, ['rm', '-f', 'named', 'joined']);
  });

  test('memory limit is visible in the cgroup; the OOM killer shows as OOMKilled', () => {
    const limit = d_(d, [
      'run',
      '--rm',
      '--memory=20m',
      '--memory-swap=20m',
      'busybox',
      'cat',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes',
    ]);
    assert.equal(limit.trim(), String(20 * 1024 * 1024));
    const hog = 'x=$(head -c 60000000 /dev/zero | tr "\\0" a); echo survived';
    const died = docker(d, ['run', '--name', 'oom', '--memory=20m', '--memory-swap=20m', 'busybox', 'sh', '-c', hog]);
    assert.equal(died.code, 137);
    assert.equal(d_(d, ['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', 'oom']).trim(), 'true 137');
    const lived = docker(d, [
      'run',
      '--rm',
      '--memory=100m',
      'busybox',
      'sh',
      '-c',
      hog.replace('60000000', '30000000'),
    ]);
    assert.equal(lived.code, 0);
    assert.match(lived.stdout, /survived/);
    d_(d, ['rm', 'oom']);
  });

  test('interactive: -i with piped stdin, and rm -f of everything', () => {
    assert.equal(
      run('docker', ['run', '-i', '--rm', 'busybox', 'wc', '-c'], { env: d.env, input: 'abcdef' }).stdout.trim(),
      '6',
    );
    d_(d, ['run', '-d', 'busybox', 'sleep', '100']);
    d_(d, ['create', 'busybox', 'true']);
    const ids = d_(d, ['ps', '-aq']).split('\n').filter(Boolean);
    assert.ok(ids.length >= 2);
    d_(d, ['rm', '-f', ...ids]);
    assert.equal(d_(d, ['ps', '-aq']).trim(), '');
  });

  test(
    'exec -ti through a pseudo-terminal',
    { skip: !existsSync('/usr/bin/script') && 'script(1) is not installed' },
    () => {
      d_(d, ['run', '-d', '--name', 'tty', 'busybox', 'sleep', '100']);
      const out = run('script', ['-qfec', `docker exec -ti tty sh -c 'tty; sleep 0.2; exit 4'`, '/dev/null'], {
        env: d.env,
      });
      assert.equal(out.code, 4, out.stdout + out.stderr);
      assert.match(out.stdout, /\/dev\/pts\/\d+/);
      d_(d, ['rm', '-f', 'tty']);
    },
  );

  test(
    'detach keys: ctrl-p ctrl-q leaves the container running, through the CLI and the API',
    { skip: !existsSync('/usr/bin/script') && 'script(1) is not installed' },
    async () => {
      const child = spawn('script', ['-qfec', 'docker run -ti --name dk busybox sh', '/dev/null'], {
        env: { ...process.env, ...d.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      try {
        await waitFor(() => d_(d, ['ps', '-q', '--filter', 'name=dk']).trim() !== '', 'dk running', 10000);
        child.stdin.write('echo marker-$((40+2))\r');
        await waitFor(() => out.includes('marker-42'), 'the shell answers', 10000);
        child.stdin.write('\x10\x11');
        assert.equal(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10000))]), 0, out);
      } finally {
        child.kill();
      }
      assert.equal(d_(d, ['inspect', '-f', '{{.State.Running}}', 'dk']).trim(), 'true', 'detaching leaves it running');

      // The daemon detects the keys itself too (for clients without their own detection), here custom ones.
      const sock = net.connect(d.sock);
      await new Promise<void>((resolve) => sock.on('connect', resolve));
      sock.write(
        'POST /v1.44/containers/dk/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,x HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
      );
      let raw = '';
      sock.on('data', (c: Buffer) => (raw += c.toString('latin1')));
      await waitFor(() => raw.includes('101 UPGRADED'), 'attach upgraded', 5000);
      sock.write('echo via-$((6*7))\r');
      await waitFor(() => raw.includes('via-42'), 'attached output', 5000);
      const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
      sock.write('\x18x');
      await closed;
      assert.equal(d_(d, ['inspect', '-f', '{{.State.Running}}', 'dk']).trim(), 'true');
      d_(d, ['rm', '-f', 'dk']);
    },
  );

  test('stats streams until interrupted; --device and CPU flags reach the container', async () => {
    d_(d, ['run', '-d', '--name', 'streamer', 'busybox', 'sleep', '100']);
    const child = spawn('docker', ['stats', '--format', '{{.Name}} {{.PIDs}}', 'streamer'], {
      env: { ...process.env, ...d.env },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await waitFor(() => (out.match(/streamer 1/g) ?? []).length >= 2, 'two stats frames', 15000);
    } finally {
      child.kill('SIGKILL');
    }
    d_(d, ['rm', '-f', 'streamer']);
    // The live view's columns from one sample pair: a busy loop shows CPU; memory, network and block I/O have their units.
    d_(d, ['run', '-d', '--name', 'burner', 'busybox', 'sh', '-c', 'while true; do :; done']);
    const row = d_(d, [
      'stats',
      '--no-stream',
      '--format',
      '{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}',
      'burner',
    ]).trim();
    d_(d, ['rm', '-f', 'burner']);
    const [cpu = '', mem = '', netIo = '', blockIo = '', pids = ''] = row.split('|');
    assert.ok(Number.parseFloat(cpu) > 20, `CPU% of a busy loop: ${row}`);
    assert.match(mem, /^[\d.]+[KMG]iB \/ [\d.]+[KMG]iB$/);
    assert.match(netIo, /^[\d.]+k?B \/ [\d.]+k?B$/);
    assert.match(blockIo, /^[\d.]+[kMG]?B \/ [\d.]+[kMG]?B$/);
    assert.equal(pids, '1');
    assert.match(
      d_(d, ['run', '--rm', '--device', '/dev/null:/dev/mynull', 'busybox', 'ls', '-l', '/dev/mynull']),
      /^crw-rw-rw-\s+1 root\s+root\s+1,\s+3 .*\/dev\/mynull$/m,
    );
    assert.equal(
      d_(d, [
        'run',
        '--rm',
        '--device',
        '/dev/null:/dev/mynull',
        'busybox',
        'sh',
        '-c',
        'echo x > /dev/mynull && echo written',
      ]).trim(),
      'written',
    );
    assert.equal(
      d_(d, ['run', '--rm', '--cpus', '0.5', 'busybox', 'cat', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us']).trim(),
      '50000',
    );
    assert.equal(
      d_(d, ['run', '--rm', '--cpu-shares', '512', 'busybox', 'cat', '/sys/fs/cgroup/cpu/cpu.shares']).trim(),
      '512',
    );
    assert.equal(
      d_(d, ['run', '--rm', '--cpuset-cpus', '0', 'busybox', 'cat', '/sys/fs/cgroup/cpuset/cpuset.cpus']).trim(),
      '0',
    );
  });

  test('diff, commit with --change, export, stats, restart policy', async () => {
    d_(d, ['run', '--name', 'changer', 'busybox', 'sh', '-c', 'echo hi > /newfile; rm /bin/ls; mkdir -p /opt/x']);
    assert.deepEqual(d_(d, ['diff', 'changer']).trim().split('\n'), [
      'C /bin',
      'D /bin/ls',
      'A /newfile',
      'A /opt',
      'A /opt/x',
    ]);
    const id = d_(d, ['commit', '-c', 'CMD ["cat", "/newfile"]', '-m', 'committed', 'changer', 'committed:v1']).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    assert.equal(d_(d, ['run', '--rm', 'committed:v1']), 'hi\n');
    assert.equal(docker(d, ['run', '--rm', 'committed:v1', 'ls']).code, 127, 'the whiteout of /bin/ls is committed');
    assert.match(d_(d, ['history', '--format', '{{.Comment}}', 'committed:v1']).split('\n')[0]!, /committed/);
    const tar = run('sh', ['-c', 'docker export changer | tar -t'], { env: d.env });
    assert.match(tar.stdout, /^newfile$/m);
    assert.doesNotMatch(tar.stdout, /^bin\/ls$/m);
    d_(d, ['run', '-d', '--name', 'busy', '--memory', '64m', 'busybox', 'sh', '-c', 'while true; do :; done']);
    const stats = d_(d, ['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}', 'busy']);
    assert.match(stats, /^busy .+ \/ 64MiB$/m);
    d_(d, ['rm', '-f', 'busy', 'changer']);
    d_(d, ['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 1']);
    await waitFor(
      () =>
        d_(d, ['inspect', '-f', '{{.RestartCount}} {{.State.Running}} {{.State.Restarting}}', 'flaky']).trim() ===
        '2 false false',
      'two restarts',
      15000,
    );
    d_(d, ['rm', '-f', 'flaky']);
  });

  test('docker cp both ways, for files and directories, running and stopped', async () => {
    const { mkdtempSync, writeFileSync, mkdirSync, readFileSync: rf } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(path.join(tmpdir(), 'gantry-cp-'));
    try {
      mkdirSync(path.join(dir, 'tree/sub'), { recursive: true });
      writeFileSync(path.join(dir, 'tree/sub/f'), 'deep\n');
      writeFileSync(path.join(dir, 'one.txt'), 'single\n');
      d_(d, ['run', '-d', '--name', 'cpc', 'busybox', 'sleep', '100']);
      d_(d, ['exec', 'cpc', 'mkdir', '/data']);
      d_(d, ['cp', path.join(dir, 'one.txt'), 'cpc:/tmp/']);
      d_(d, ['cp', path.join(dir, 'tree'), 'cpc:/data/']);
      assert.equal(d_(d, ['exec', 'cpc', 'cat', '/tmp/one.txt', '/data/tree/sub/f']), 'single\ndeep\n');
      d_(d, ['cp', 'cpc:/etc/passwd', path.join(dir, 'passwd')]);
      assert.match(rf(path.join(dir, 'passwd'), 'utf8'), /^root:x:0:0:/);
      d_(d, ['stop', '-t', '0', 'cpc']);
      d_(d, ['cp', 'cpc:/data/tree', path.join(dir, 'back')]);
      assert.equal(rf(path.join(dir, 'back/sub/f'), 'utf8'), 'deep\n');
      const missing = docker(d, ['cp', 'cpc:/nope', path.join(dir, 'x')]);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /Could not find the file \/nope/);
      d_(d, ['rm', 'cpc']);
      assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(d.dataRoot));
    } finally {
      run('rm', ['-rf', dir]);
    }
  });

  test('docker cp into and out of volumes and bind mounts, running and stopped; read-only mounts refuse', async () => {
    const { mkdtempSync, writeFileSync, readFileSync: rf } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(path.join(tmpdir(), 'gantry-cpvol-'));
    try {
      const bind = path.join(dir, 'bind');
      run('mkdir', ['-p', bind]);
      writeFileSync(path.join(bind, 'host.txt'), 'from host\n');
      writeFileSync(path.join(dir, 'in.txt'), 'copied in\n');
      d_(d, ['volume', 'create', 'cpvol']);
      d_(d, [
        'run',
        '-d',
        '--name',
        'cpv',
        '--read-only',
        '-v',
        'cpvol:/vol',
        '-v',
        `${bind}:/bind`,
        '-v',
        `${bind}:/robind:ro`,
        '-v',
        `${path.join(bind, 'host.txt')}:/single.txt:ro`,
        'busybox',
        'sleep',
        '100',
      ]);
      d_(d, ['cp', path.join(dir, 'in.txt'), 'cpv:/vol/']);
      d_(d, ['cp', path.join(dir, 'in.txt'), 'cpv:/bind/in.txt']);
      assert.equal(d_(d, ['exec', 'cpv', 'cat', '/vol/in.txt', '/bind/in.txt']), 'copied in\ncopied in\n');
      assert.equal(rf(path.join(bind, 'in.txt'), 'utf8'), 'copied in\n');
      d_(d, ['exec', 'cpv', 'sh', '-c', 'echo made inside > /vol/made.txt']);
      d_(d, ['cp', 'cpv:/vol/made.txt', path.join(dir, 'made.txt')]);
      assert.equal(rf(path.join(dir, 'made.txt'), 'utf8'), 'made inside\n');
      const ro = docker(d, ['cp', path.join(dir, 'in.txt'), 'cpv:/robind/']);
      assert.notEqual(ro.code, 0);
      assert.match(ro.stderr, /mounted volume is marked read-only/);
      const rootRo = docker(d, ['cp', path.join(dir, 'in.txt'), 'cpv:/tmp/']);
      assert.notEqual(rootRo.code, 0);
      assert.match(rootRo.stderr, /container rootfs is marked read-only/);
      d_(d, ['stop', '-t', '0', 'cpv']);
      d_(d, ['cp', 'cpv:/vol', path.join(dir, 'volback')]);
      assert.equal(rf(path.join(dir, 'volback/made.txt'), 'utf8'), 'made inside\n');
      d_(d, ['cp', 'cpv:/robind/host.txt', path.join(dir, 'host.txt')]);
      assert.equal(rf(path.join(dir, 'host.txt'), 'utf8'), 'from host\n');
      d_(d, ['cp', 'cpv:/single.txt', path.join(dir, 'single.txt')]);
      assert.equal(rf(path.join(dir, 'single.txt'), 'utf8'), 'from host\n');
      writeFileSync(path.join(dir, 'late.txt'), 'while stopped\n');
      d_(d, ['cp', path.join(dir, 'late.txt'), 'cpv:/vol/']);
      d_(d, ['start', 'cpv']);
      assert.equal(d_(d, ['exec', 'cpv', 'cat', '/vol/late.txt']), 'while stopped\n');
      d_(d, ['rm', '-f', 'cpv']);
      d_(d, ['volume', 'rm', 'cpvol']);
    } finally {
      run('rm', ['-rf', dir]);
    }
  });

  test('attach over a WebSocket: output as binary messages, messages as stdin, logs first, detach keys', async () => {
    const { WebSocket } = await import('ws');
    d_(d, [
      'run',
      '-d',
      '-i',
      '--name',
      'wsc',
      'busybox',
      'sh',
      '-c',
      'echo ready; while read l; do echo "got $l"; echo "err $l" >&2; done',
    ]);
    type Session = { ws: InstanceType<typeof WebSocket>; text: string; binary: boolean };
    // Messages are recorded from the start: the logs can arrive with the handshake's answer.
    const open = (q: string, version = 'v1.44'): Promise<Session> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws+unix://${d.sock}:/${version}/containers/wsc/attach/ws?${q}`);
        const session: Session = { ws, text: '', binary: true };
        ws.on('message', (data, isBinary) => {
          session.text += data.toString();
          session.binary &&= isBinary;
        });
        ws.once('open', () => resolve(session));
        ws.once('error', reject);
      });
    const collect = (s: Session, until: RegExp): Promise<Session> =>
      waitFor(() => until.test(s.text), `${until} in ${JSON.stringify(s.text)}`, 10000).then(() => s);
    await waitFor(() => /ready/.test(d_(d, ['logs', 'wsc'])), 'wsc ready');
    const session = await open('logs=1&stream=1&stdin=1&stdout=1&stderr=1');
    session.ws.send('hello\n');
    const { text, binary } = await collect(session, /err hello/);
    assert.ok(binary, 'API 1.28 and later send binary messages');
    assert.match(text, /^ready\n/);
    assert.match(text, /got hello\n/);
    session.ws.close();
    // Only stdout asked for: stderr stays out.
    const outOnly = await open('stream=1&stdin=1&stdout=1');
    outOnly.ws.send('second\n');
    await collect(outOnly, /got second/);
    await new Promise((r) => setTimeout(r, 300));
    assert.doesNotMatch(outOnly.text, /err second/);
    // Detach keys end the session and leave the container running.
    const closed = new Promise<number>((r) => outOnly.ws.once('close', (code) => r(code)));
    outOnly.ws.send(Buffer.from([0x10, 0x11]));
    assert.equal(await closed, 1000);
    assert.equal(d_(d, ['inspect', '-f', '{{.State.Running}}', 'wsc']).trim(), 'true');
    // No such container, or not a WebSocket handshake: the API's errors.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const bad = new WebSocket(`ws+unix://${d.sock}:/v1.44/containers/nope/attach/ws?stream=1`);
        bad.once('open', resolve);
        bad.once('error', reject);
      }),
      /Unexpected server response: 404/,
    );
    const plain = run('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--unix-socket',
      d.sock,
      'http://d/v1.44/containers/wsc/attach/ws?stream=1',
    ]);
    assert.equal(plain.stdout, '400');
    d_(d, ['rm', '-f', 'wsc']);
  });

  test('--add-host with host-gateway and the = form; name resolution settings that would break their files are refused', () => {
    const gw = d_(d, ['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', 'bridge']).trim();
    const hosts = d_(d, [
      'run',
      '--rm',
      '--add-host',
      'gw:host-gateway',
      '--add-host',
      'six=::1',
      'busybox',
      'cat',
      '/etc/hosts',
    ]);
    assert.match(hosts, new RegExp(`^${gw.replace(/\./g, '\\.')}\\s+gw$`, 'm'));
    assert.match(hosts, /^::1\s+six$/m);
    const create = (body: Record<string, unknown>): string => createViaApi(d, { Image: 'busybox', ...body }).body;
    assert.match(create({ HostConfig: { ExtraHosts: ['evil\n1.2.3.4 bank:1.1.1.1'] } }), /bad format for add-host/);
    assert.match(
      create({ HostConfig: { ExtraHosts: ['name:not-an-ip'] } }),
      /invalid IP address in add-host: \\"not-an-ip\\"/,
    );
    assert.match(create({ Hostname: 'a\nb' }), /invalid hostname format/);
    assert.match(create({ HostConfig: { Dns: ['8.8.8.8\nnameserver 6.6.6.6'] } }), /is not an ip address/);
    assert.match(create({ HostConfig: { DnsOptions: ['ndots:1\nnameserver 6.6.6.6'] } }), /invalid DNS option/);
  });

  test('docker events with each filter, since and until', () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    d_(d, ['volume', 'create', 'evvol']);
    d_(d, ['network', 'create', 'evnet']);
    d_(d, ['run', '--name', 'evc', '--label', 'tier=front', '--network', 'evnet', '-v', 'evvol:/v', 'busybox', 'true']);
    d_(d, ['rm', 'evc']);
    d_(d, ['network', 'rm', 'evnet']);
    d_(d, ['volume', 'rm', 'evvol']);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const events = (...filters: string[]): string[] =>
      d_(d, [
        'events',
        '--since',
        since,
        '--until',
        until,
        '--format',
        '{{.Type}} {{.Action}}',
        ...filters.flatMap((f) => ['--filter', f]),
      ])
        .trim()
        .split('\n')
        .filter(Boolean);
    const container = events('container=evc');
    assert.ok(
      container.every((l) => l.startsWith('container ')),
      container.join('\n'),
    );
    for (const a of ['create', 'start', 'die', 'destroy']) assert.ok(container.includes(`container ${a}`), a);
    assert.deepEqual(events('container=evc', 'event=start'), ['container start']);
    assert.deepEqual(
      events('type=volume', 'volume=evvol').map((l) => l.split(' ')[1]),
      ['create', 'mount', 'unmount', 'destroy'],
    );
    assert.deepEqual(events('network=evnet', 'event=create', 'event=destroy'), ['network create', 'network destroy']);
    assert.ok(events('image=busybox').includes('container start'));
    assert.ok(events('label=tier=front').includes('container die'));
    assert.deepEqual(events('label=tier=back'), []);
    const bad = docker(d, ['events', '--since', since, '--until', until, '--filter', 'colour=red']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid filter 'colour'/);
  });

  test('volume subpaths (API 1.45): a part of a volume mounted, its symlinks kept inside the volume', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(path.join(tmpdir(), 'gantry-subpath-'));
    try {
      d_(d, ['volume', 'create', 'spvol']);
      d_(d, [
        'run',
        '--rm',
        '-v',
        'spvol:/v',
        'busybox',
        'sh',
        '-c',
        'mkdir -p /v/sub && echo inner > /v/sub/f && ln -s / /v/escape && ln -s ../../.. /v/up',
      ]);
      const mount = (sub: string): string => `type=volume,src=spvol,dst=/data,volume-subpath=${sub}`;
      assert.equal(d_(d, ['run', '--rm', '--mount', mount('sub'), 'busybox', 'cat', '/data/f']), 'inner\n');
      for (const trick of ['escape', 'up']) {
        const listing = d_(d, ['run', '--rm', '--mount', mount(trick), 'busybox', 'ls', '/data']);
        assert.match(listing, /^sub$/m, `${trick} stays in the volume`);
        assert.doesNotMatch(listing, /^etc$/m);
      }
      const missing = docker(d, ['run', '--rm', '--mount', mount('nope'), 'busybox', 'true']);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /cannot access path .*nope/);
      const out = createViaApi(d, {
        Image: 'busybox',
        HostConfig: {
          Mounts: [{ Type: 'volume', Source: 'spvol', Target: '/d', VolumeOptions: { Subpath: '../x' } }],
        },
      }).body;
      assert.match(out, /subpath must be a relative path within the volume/);
      d_(d, ['create', '--name', 'spc', '--mount', mount('sub'), 'busybox', 'true']);
      d_(d, ['cp', 'spc:/data/f', path.join(dir, 'f')]);
      assert.equal(readFileSync(path.join(dir, 'f'), 'utf8'), 'inner\n');
      d_(d, ['rm', 'spc']);
      d_(d, ['volume', 'rm', 'spvol']);
      assert.deepEqual(readdirSync(path.join(d.execRoot, 'subpaths')), [], 'no subpath mountpoint stays');
      assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), /subpaths/);
    } finally {
      run('rm', ['-rf', dir]);
    }
  });

  test('security and resource flags: read-only, tmpfs, caps, privileged, user, init, ulimit, pids, sysctl, shm, pause, update', () => {
    assert.equal(docker(d, ['run', '--rm', '--read-only', 'busybox', 'touch', '/x']).code, 1);
    assert.equal(
      d_(d, [
        'run',
        '--rm',
        '--read-only',
        '--tmpfs',
        '/scratch',
        'busybox',
        'sh',
        '-c',
        'touch /scratch/ok && echo ok',
      ]).trim(),
      'ok',
    );
    assert.equal(docker(d, ['run', '--rm', '--cap-drop', 'CHOWN', 'busybox', 'chown', '1', '/tmp']).code, 1);
    assert.equal(d_(d, ['run', '--rm', 'busybox', 'chown', '1', '/tmp']), '');
    assert.ok(
      Number(d_(d, ['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'ls /dev | wc -l']).trim()) > 10,
      'privileged sees host devices',
    );
    assert.equal(
      d_(d, ['run', '--rm', '-u', 'nobody', 'busybox', 'id']).trim(),
      'uid=65534(nobody) gid=65534(nogroup)',
    );
    assert.match(d_(d, ['run', '--rm', '--init', 'busybox', 'ps']), /^\s*1 root\s+\/sbin\/docker-init -- ps$/m);
    assert.equal(
      d_(d, ['run', '--rm', '--ulimit', 'nofile=100:200', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn']),
      '100\n200\n',
    );
    assert.equal(
      d_(d, ['run', '--rm', '--pids-limit', '5', 'busybox', 'cat', '/sys/fs/cgroup/pids/pids.max']).trim(),
      '5',
    );
    assert.equal(
      d_(d, [
        'run',
        '--rm',
        '--sysctl',
        'net.ipv4.ip_forward=1',
        'busybox',
        'cat',
        '/proc/sys/net/ipv4/ip_forward',
      ]).trim(),
      '1',
    );
    assert.match(d_(d, ['run', '--rm', '--shm-size', '16m', 'busybox', 'df', '-h', '/dev/shm']), /16\.0M/);
    assert.match(
      d_(d, [
        'run',
        '--rm',
        '--security-opt',
        'no-new-privileges',
        'busybox',
        'grep',
        'NoNewPrivs',
        '/proc/self/status',
      ]),
      /NoNewPrivs:\s+1/,
    );
    d_(d, ['run', '-d', '--name', 'pz', 'busybox', 'sleep', '100']);
    d_(d, ['pause', 'pz']);
    assert.match(d_(d, ['ps', '--filter', 'name=pz', '--format', '{{.Status}}']), /\(Paused\)/);
    d_(d, ['unpause', 'pz']);
    d_(d, ['update', '--memory', '50m', '--memory-swap', '100m', 'pz']);
    assert.equal(
      d_(d, ['exec', 'pz', 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes']).trim(),
      String(50 * 1024 * 1024),
    );
    d_(d, ['rm', '-f', 'pz']);
  });

  test('logs: follow, tail, timestamps, start -a, attach, and rotation with max-size and max-file', async () => {
    d_(d, ['run', '-d', '--name', 'lg', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.2; done']);
    assert.equal(d_(d, ['logs', '-f', 'lg']), 'line 1\nline 2\nline 3\n');
    assert.match(d_(d, ['logs', '--tail', '1', '-t', 'lg']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line 3\n$/);
    d_(d, ['create', '--name', 'sa', 'busybox', 'echo', 'started-attached']);
    assert.equal(d_(d, ['start', '-a', 'sa']), 'started-attached\n');
    d_(d, ['run', '-d', '--name', 'at', 'busybox', 'sh', '-c', 'sleep 0.5; echo from-attach; exit 9']);
    const att = docker(d, ['attach', 'at']);
    assert.equal(att.stdout, 'from-attach\n');
    assert.equal(att.code, 9);
    d_(d, [
      'run',
      '-d',
      '--name',
      'rot',
      '--log-opt',
      'max-size=10k',
      '--log-opt',
      'max-file=3',
      'busybox',
      'sh',
      '-c',
      'i=0; while [ $i -lt 3000 ]; do echo "line $i padding padding padding"; i=$((i+1)); [ $((i % 100)) = 0 ] && sleep 0.1; done',
    ]);
    d_(d, ['wait', 'rot']);
    const logPath = d_(d, ['inspect', '-f', '{{.LogPath}}', 'rot']).trim();
    assert.ok(
      existsSync(`${logPath}.1`) && existsSync(`${logPath}.2`) && !existsSync(`${logPath}.3`),
      'rotated files kept to max-file',
    );
    const lines = d_(d, ['logs', 'rot']).trim().split('\n');
    assert.ok(lines.length < 3000, 'old lines were rotated away');
    assert.equal(lines.at(-1), 'line 2999 padding padding padding');
    d_(d, ['rm', '-f', 'lg', 'sa', 'at', 'rot']);
  });

  test('health checks: starting, unhealthy after retries, healthy, shown in ps and inspect', async () => {
    d_(d, [
      'run',
      '-d',
      '--name',
      'hc',
      '--health-cmd',
      'test -f /ok',
      '--health-interval',
      '200ms',
      '--health-retries',
      '2',
      'busybox',
      'sleep',
      '100',
    ]);
    assert.match(d_(d, ['ps', '--filter', 'name=hc', '--format', '{{.Status}}']), /health: starting|unhealthy/);
    await waitFor(
      () => d_(d, ['inspect', '-f', '{{.State.Health.Status}}', 'hc']).trim() === 'unhealthy',
      'unhealthy',
      10000,
    );
    d_(d, ['exec', 'hc', 'touch', '/ok']);
    await waitFor(
      () => d_(d, ['inspect', '-f', '{{.State.Health.Status}}', 'hc']).trim() === 'healthy',
      'healthy',
      10000,
    );
    assert.match(d_(d, ['ps', '--filter', 'name=hc', '--format', '{{.Status}}']), /\(healthy\)/);
    d_(d, ['rm', '-f', 'hc']);
  });

  test(
    'docker-py: run, create, start, logs, exec_run, stop, remove and a failing exit code',
    { skip: !hasPython('docker') && 'python3 docker module not installed' },
    () => {
      const script = `
import docker
c = docker.DockerClient(base_url='${d.host}')
print(c.containers.run('busybox', 'echo from-py', remove=True).decode().strip())
ct = c.containers.create('busybox', 'sh -c "echo logged; sleep 100"', name='pyc')
ct.start()
import time; time.sleep(0.3)
print(ct.logs().decode().strip())
r = ct.exec_run('sh -c "echo ex; exit 3"')
print(r.exit_code, r.output.decode().strip())
ct.stop(timeout=1)
ct.remove()
try:
    c.containers.run('busybox', 'sh -c "exit 5"', remove=True)
except docker.errors.ContainerError as e:
    print('failed', e.exit_status)
`;
      const out = ok('python3', ['-c', script]).trim().split('\n');
      assert.deepEqual(out, ['from-py', 'logged', '3 ex', 'failed 5']);
    },
  );

  test(
    'docker-py exec_run delivers every byte, with and without a TTY (the process starts only once the stream is taken over)',
    { skip: !hasPython('docker') && 'python3 docker module not installed' },
    () => {
      const script = `
import docker
c = docker.DockerClient(base_url='${d.host}')
ct = c.containers.run('busybox', 'sleep 100', detach=True, name='pyexec')
lost = 0
for i in range(40):
    tty = ct.exec_run(['echo', 'first-bytes-%d' % i], tty=True).output
    plain = ct.exec_run(['echo', 'first-bytes-%d' % i]).output
    if tty != b'first-bytes-%d\\r\\n' % i or plain != b'first-bytes-%d\\n' % i:
        lost += 1
        print(repr(tty), repr(plain))
ct.remove(force=True)
print('lost', lost)
`;
      assert.equal(ok('python3', ['-c', script]).trim(), 'lost 0');
    },
  );
});

describe('crash and cleanup', () => {
  const cleanup = new Cleanup();
  let d: Daemon;
  before(async () => {
    d = await engineWithBusybox(cleanup);
    d_(d, ['pull', 'busybox']);
  });
  after(() => cleanup.run());

  test('kill -9 of the daemon: containers keep running, logs have no gap, exits while down are recorded', async () => {
    d_(d, [
      'run',
      '-d',
      '--name',
      'printer',
      'busybox',
      'sh',
      '-c',
      'i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done',
    ]);
    d_(d, ['run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '1000']);
    d_(d, ['run', '-d', '--name', 'short', 'busybox', 'sh', '-c', 'sleep 2; exit 42']);
    d.proc.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 3000));
    d = await restartDaemon(cleanup, d);
    const ps = d_(d, ['ps', '--format', '{{.Names}}']).split('\n').filter(Boolean).sort();
    assert.deepEqual(ps, ['printer', 'sleeper']);
    assert.equal(d_(d, ['inspect', '-f', '{{.State.ExitCode}} {{.State.Running}}', 'short']).trim(), '42 false');
    const lines = d_(d, ['logs', 'printer']).trim().split('\n').map(Number);
    assert.ok(lines.length > 40, `only ${lines.length} lines`);
    lines.forEach((n, i) => assert.equal(n, i, 'log lines are consecutive'));
    d_(d, ['stop', '-t', '1', 'printer', 'sleeper']);
    assert.equal(d_(d, ['ps', '-q']).trim(), '');
  });

  test('50 containers run and removed leave no mounts, cgroups, conmon processes or files', async () => {
    for (let i = 0; i < 50; i++) d_(d, ['run', '-d', '--name', `c${i}`, 'busybox', 'sleep', '100']);
    const ids = d_(d, ['ps', '-q', '--no-trunc']).split('\n').filter(Boolean);
    assert.ok(ids.length >= 50);
    d_(d, ['rm', '-f', ...d_(d, ['ps', '-aq']).split('\n').filter(Boolean)]);
    await waitFor(() => !readFileSync('/proc/self/mountinfo', 'utf8').includes(d.dataRoot), 'mounts to go');
    for (const id of ids) assert.ok(!existsSync(`/sys/fs/cgroup/memory/gantry/${id}`), `cgroup of ${id} remains`);
    const conmons = run('ps', ['-eo', 'args'])
      .stdout.split('\n')
      .filter((l) => l.includes('conmon') && l.includes(d.execRoot));
    assert.deepEqual(conmons, []);
    assert.deepEqual(readdirSync(path.join(d.dataRoot, 'containers')), []);
    assert.deepEqual(readdirSync(path.join(d.dataRoot, 'snapshots/active')), []);
    assert.deepEqual(readdirSync(path.join(d.execRoot, 'bundles')), []);
    assert.deepEqual(
      readdirSync(path.join(d.execRoot, 'runc')).filter((n) => ids.includes(n)),
      [],
    );
  });
});
