import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkEnv } from './links.js';

test('link variables as moby makes them', () => {
  const table: Array<{ name: string; env: string[]; ports: string[]; want: string[] }> = [
    {
      name: '/web2/db',
      env: ['PATH=/usr/bin', 'HOME=/root', 'PGDATA=/data', 'BARE'],
      ports: ['5432/tcp'],
      want: [
        'DB_PORT=tcp://172.17.0.5:5432',
        'DB_PORT_5432_TCP=tcp://172.17.0.5:5432',
        'DB_PORT_5432_TCP_ADDR=172.17.0.5',
        'DB_PORT_5432_TCP_PORT=5432',
        'DB_PORT_5432_TCP_PROTO=tcp',
        'DB_NAME=/web2/db',
        'DB_ENV_PGDATA=/data',
      ],
    },
    {
      name: '/app/my-cache',
      env: [],
      ports: ['6381/tcp', '53/udp', '6379/tcp', '6380/tcp'],
      want: [
        'MY_CACHE_PORT=tcp://172.17.0.5:6379',
        ...[6379, 6380, 6381].flatMap((p) => [
          `MY_CACHE_PORT_${p}_TCP=tcp://172.17.0.5:${p}`,
          `MY_CACHE_PORT_${p}_TCP_ADDR=172.17.0.5`,
          `MY_CACHE_PORT_${p}_TCP_PORT=${p}`,
          `MY_CACHE_PORT_${p}_TCP_PROTO=tcp`,
        ]),
        // As moby's loop: a range is written once the next port breaks it.
        'MY_CACHE_PORT_53_UDP=udp://172.17.0.5:53',
        'MY_CACHE_PORT_53_UDP_ADDR=172.17.0.5',
        'MY_CACHE_PORT_53_UDP_PORT=53',
        'MY_CACHE_PORT_53_UDP_PROTO=udp',
        'MY_CACHE_PORT_6379_TCP_START=tcp://172.17.0.5:6379',
        'MY_CACHE_PORT_6379_TCP_PORT_START=6379',
        'MY_CACHE_PORT_6379_TCP_END=tcp://172.17.0.5:6381',
        'MY_CACHE_PORT_6379_TCP_PORT_END=6381',
        'MY_CACHE_NAME=/app/my-cache',
      ],
    },
    { name: '/a/plain', env: [], ports: [], want: ['PLAIN_NAME=/a/plain'] },
  ];
  for (const { name, env, ports, want } of table) assert.deepEqual(linkEnv(name, '172.17.0.5', env, ports), want, name);
});
