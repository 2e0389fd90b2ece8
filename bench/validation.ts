/**
 * What checking request bodies costs, in process, medians of N rounds (default 5) of 20,000 bodies:
 * - the Engine API: a `docker run`-sized create body parsed and checked against moby's Go types,
 *   beside parsing it alone (what any decoder pays);
 * - the Kubernetes API: a Deployment parsed and type-checked against its OpenAPI schema, beside
 *   parsing it alone.
 *
 *   node --import tsx bench/validation.ts [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { decodeAs } from '../src/api/docker/schema/gojson.js';
import { createRequest } from '../src/api/docker/schema/types.js';
import { typeError } from '../src/cluster/apiserver/openapi/types.js';
import { median, row, time } from './lib.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const BODIES = 20_000;

const create = JSON.stringify({
  Image: 'busybox',
  Cmd: ['sh', '-c', 'sleep 1'],
  Env: ['A=1', 'PATH=/usr/bin'],
  Labels: { app: 'web', tier: 'front' },
  ExposedPorts: { '80/tcp': {} },
  HostConfig: {
    Memory: 64 << 20,
    Binds: ['/data:/data'],
    PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
    RestartPolicy: { Name: 'unless-stopped' },
    LogConfig: { Type: 'json-file', Config: {} },
    Mounts: [{ Type: 'volume', Source: 'v', Target: '/v' }],
  },
  NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ['web'] } } },
});

const deployment = JSON.stringify({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { app: 'web' }, annotations: { note: 'n' } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'nginx',
            ports: [{ containerPort: 80 }],
            env: [{ name: 'A', value: '1' }],
            resources: { limits: { cpu: '500m', memory: '128Mi' } },
            readinessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 5 },
          },
        ],
      },
    },
  },
});

async function compare(name: string, body: string, check: (parsed: unknown) => void): Promise<void> {
  const checked: number[] = [];
  const parsed: number[] = [];
  for (let r = 0; r < rounds; r++) {
    checked.push(
      await time(() => {
        for (let i = 0; i < BODIES; i++) check(JSON.parse(body));
      }),
    );
    parsed.push(
      await time(() => {
        for (let i = 0; i < BODIES; i++) JSON.parse(body);
      }),
    );
  }
  row(`${BODIES} ${name} parsed and checked`, median(checked), 'parsed only', median(parsed));
}

await compare('create bodies', create, (b) => decodeAs(createRequest, b));
await compare('Deployments', deployment, (b) => {
  if (typeError({ group: 'apps', version: 'v1', kind: 'Deployment' }, b)) throw new Error('refused');
});
