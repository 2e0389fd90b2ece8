import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAs } from './gojson.js';
import { createRequest, networkCreateRequest, updateConfig, volumeCreate } from './types.js';

test('bodies that decode into moby types pass: null anywhere, unknown fields, any case of a name', () => {
  const fits: unknown[] = [
    null,
    {},
    { Image: 'busybox', Cmd: ['sh', '-c', 'true'], Env: ['A=1', 'B'], Labels: { a: 'b' } },
    { Image: 'busybox', Cmd: 'echo hi', Entrypoint: null, HostConfig: null },
    { image: 'busybox', env: ['A=1'], hostconfig: { memory: 7 << 20, restartpolicy: { name: 'always' } } },
    { Image: 'x', Unknown: { deep: [1, 2] }, ExposedPorts: { '80/tcp': {} }, Volumes: { '/data': {} } },
    {
      Image: 'x',
      HostConfig: {
        Binds: ['/a:/b'],
        PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
        Mounts: [{ Type: 'volume', Target: '/v', VolumeOptions: { Subpath: 's', Labels: { a: 'b' } } }],
        Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
        ConsoleSize: [24, 80],
        MemorySwappiness: -1,
      },
      NetworkingConfig: { EndpointsConfig: { n: { Aliases: ['a'], IPAMConfig: { IPv4Address: '10.0.0.2' } } } },
      Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9, Retries: 3 },
    },
  ];
  for (const body of fits) assert.doesNotThrow(() => decodeAs(createRequest, body), JSON.stringify(body));
});

test("bodies that do not decode are refused with Go's words, the first mismatch named", () => {
  const cases: Array<[unknown, string]> = [
    ['x', 'json: cannot unmarshal string into Go value of type container.CreateRequest'],
    [[1], 'json: cannot unmarshal array into Go value of type container.CreateRequest'],
    [{ Env: [1, 2] }, 'json: cannot unmarshal number into Go struct field CreateRequest.Env of type string'],
    [{ env: 'A=1' }, 'json: cannot unmarshal string into Go struct field CreateRequest.Env of type []string'],
    [
      { Labels: ['a'] },
      'json: cannot unmarshal array into Go struct field CreateRequest.Labels of type map[string]string',
    ],
    [{ Labels: { a: 1 } }, 'json: cannot unmarshal number into Go struct field CreateRequest.Labels of type string'],
    [
      { HostConfig: 'x' },
      'json: cannot unmarshal string into Go struct field CreateRequest.HostConfig of type container.HostConfig',
    ],
    [
      { HostConfig: { Memory: '1g' } },
      'json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64',
    ],
    [
      { HostConfig: { Memory: 1.5 } },
      'json: cannot unmarshal number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64',
    ],
    [
      { HostConfig: { BlkioWeight: 70000 } },
      'json: cannot unmarshal number 70000 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16',
    ],
    [
      { HostConfig: { Privileged: 'yes' } },
      'json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Privileged of type bool',
    ],
    [
      { HostConfig: { Mounts: [{ Type: 1 }] } },
      'json: cannot unmarshal number into Go struct field Mount.HostConfig.Mounts.Type of type mount.Type',
    ],
    [
      { HostConfig: { PortBindings: { '80/tcp': [{ HostPort: 80 }] } } },
      'json: cannot unmarshal number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string',
    ],
    [
      { HostConfig: { ConsoleSize: [-1, 2] } },
      'json: cannot unmarshal number -1 into Go struct field HostConfig.HostConfig.ConsoleSize of type uint',
    ],
    [{ Cmd: 5 }, 'json: cannot unmarshal number into Go struct field CreateRequest.Cmd of type string'],
    [{ Cmd: ['sh', 1] }, 'json: cannot unmarshal array into Go struct field CreateRequest.Cmd of type string'],
    [
      { ExposedPorts: { '80/tcp': 1 } },
      'json: cannot unmarshal number into Go struct field CreateRequest.ExposedPorts of type struct {}',
    ],
    [{ Env: [1], Labels: 2 }, 'json: cannot unmarshal number into Go struct field CreateRequest.Env of type string'],
  ];
  for (const [body, message] of cases)
    assert.throws(() => decodeAs(createRequest, body), { message: `invalid JSON: ${message}` }, JSON.stringify(body));
});

test('the other bodies: update, network create, volume create', () => {
  assert.throws(
    () => decodeAs(updateConfig, { RestartPolicy: { MaximumRetryCount: 'x' } }),
    /RestartPolicy\.MaximumRetryCount of type int/,
  );
  assert.throws(
    () => decodeAs(networkCreateRequest, { IPAM: { Config: [{ Subnet: 10 }] } }),
    /IPAMConfig\.IPAM\.Config\.Subnet of type string/,
  );
  assert.throws(() => decodeAs(volumeCreate, { Labels: ['x'] }), /CreateOptions\.Labels of type map\[string\]string/);
  assert.doesNotThrow(() => decodeAs(networkCreateRequest, { Name: 'n', Internal: true, Options: { a: 'b' } }));
});

test('checking shapes the body as Go holds it: own field names, one string as a StrSlice, nulls as zero values', () => {
  const body = {
    image: 'busybox',
    Cmd: 'echo hi',
    HostConfig: { capadd: 'NET_ADMIN', memory: 8 << 20, Binds: null, Ulimits: [null] },
    Env: ['A=1'],
    env: ['B=2', null],
    Labels: { a: null },
  };
  decodeAs(createRequest, body);
  assert.deepEqual(body, {
    Image: 'busybox',
    Cmd: ['echo hi'],
    HostConfig: { CapAdd: ['NET_ADMIN'], Memory: 8 << 20, Ulimits: [{}] },
    Env: ['B=2', ''],
    Labels: { a: '' },
  });
});
