import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { natMappings, PortReservation, wantedBindings } from './ports.js';

test('a binding given no address is published on 0.0.0.0 and [::]; one given an address only there', () => {
  const cases: Array<[string, Parameters<typeof wantedBindings>, Array<[string, number, boolean?]>]> = [
    [
      'no address',
      [{ '80/tcp': [{ HostPort: '8080' }] }, undefined, false],
      [
        ['0.0.0.0', 8080],
        ['::', 8080, true],
      ],
    ],
    [
      'ephemeral',
      [{ '80/tcp': [{ HostIp: '', HostPort: '' }] }, undefined, false],
      [
        ['0.0.0.0', 0],
        ['::', 0, true],
      ],
    ],
    ['IPv4 loopback', [{ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '81' }] }, undefined, false], [['127.0.0.1', 81]]],
    ['IPv6 loopback', [{ '80/tcp': [{ HostIp: '::1', HostPort: '81' }] }, undefined, false], [['::1', 81]]],
    [
      '-P',
      [{}, { '53/udp': {} }, true],
      [
        ['0.0.0.0', 0],
        ['::', 0, true],
      ],
    ],
  ];
  for (const [what, args, want] of cases) {
    const got = wantedBindings(...args).map((w) => [w.hostIp, w.hostPort, ...(w.v6Twin ? [true] : [])]);
    assert.deepEqual(got, want, what);
  }
  assert.deepEqual(
    natMappings([
      { hostIP: '0.0.0.0', hostPort: 1, containerPort: 1, protocol: 'tcp' },
      { hostIP: '::', hostPort: 1, containerPort: 1, protocol: 'tcp' },
    ]).map((m) => m.hostIP),
    ['0.0.0.0'],
  );
});

test('an ephemeral port is one port on both families, and [::] carries TCP and UDP to the container', async (t) => {
  const echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
  await new Promise((r) => echo.once('listening', r));
  const udpEcho = dgram.createSocket('udp4');
  udpEcho.on('message', (m, from) => udpEcho.send(m, from.port, from.address));
  await new Promise<void>((r) => udpEcho.bind(0, '127.0.0.1', r));
  const tcpPort = (echo.address() as net.AddressInfo).port;
  const udpPort = udpEcho.address().port;
  const ports = await PortReservation.reserve(
    wantedBindings({ [`${tcpPort}/tcp`]: [{}], [`${udpPort}/udp`]: [{}] }, undefined, false),
  );
  t.after(() => {
    ports.release();
    echo.close();
    udpEcho.close();
  });
  const [v4, v6, u4, u6] = ports.mappings;
  assert.deepEqual(
    ports.mappings.map((m) => [m.hostIP, m.protocol]),
    [
      ['0.0.0.0', 'tcp'],
      ['::', 'tcp'],
      ['0.0.0.0', 'udp'],
      ['::', 'udp'],
    ],
  );
  assert.equal(v4!.hostPort, v6!.hostPort);
  assert.equal(u4!.hostPort, u6!.hostPort);
  ports.forwardTo({ v4: '127.0.0.1' });

  const answer = await new Promise<string>((resolve, reject) => {
    const c = net.connect(v6!.hostPort, '::1', () => c.end('over six'));
    let got = '';
    c.on('data', (d: Buffer) => (got += d.toString()));
    c.on('end', () => resolve(got));
    c.on('error', reject);
  });
  assert.equal(answer, 'over six');

  const client = dgram.createSocket('udp6');
  t.after(() => client.close());
  const datagram = new Promise<string>((resolve) => client.once('message', (m) => resolve(m.toString())));
  client.send('datagram', u6!.hostPort, '::1');
  assert.equal(await datagram, 'datagram');
});

test('a port taken on [::] by another program is refused in Docker words, and nothing stays held', async (t) => {
  const other = net.createServer().listen({ port: 0, host: '::', ipv6Only: true });
  await new Promise((r) => other.once('listening', r));
  t.after(() => other.close());
  const port = (other.address() as net.AddressInfo).port;
  await assert.rejects(
    PortReservation.reserve(wantedBindings({ '80/tcp': [{ HostPort: String(port) }] }, undefined, false)),
    new RegExp(`Bind for :::${port} failed: port is already allocated`),
  );
  // The IPv4 twin was let go: the port can be held on 0.0.0.0 again.
  const again = await PortReservation.reserve([{ key: '80/tcp', hostIp: '0.0.0.0', hostPort: port }]);
  again.release();
});
