/**
 * The node `gantry server` runs unless `--disable-agent`, as k3s's server does: an engine (`gantry
 * daemon`, a child process with its own data root, exec root, socket and default bridge under the
 * server's data dir) and a node agent in the server's process, joined with the server's node token. A
 * single command is then a whole one-node cluster. Stopping the server stops the agent and the engine;
 * containers keep running, as they do when a daemon restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { ApiClient as EngineClient } from '../../api/docker/client.js';
import { NodeAgent } from '../../cluster/agent/agent.js';
import { CertificateRotation } from '../../cluster/agent/certrotation.js';
import { nodeCredentials } from '../../cluster/agent/credentials.js';
import { ApiClient as ClusterClient } from '../../cluster/client/client.js';
import type { Logger } from '../../common/log.js';

export interface EmbeddedNodeOptions {
  dataDir: string;
  serverUrl: string;
  ca: string;
  nodeName: string;
  nodeIp: string;
  registryMirrors: string[];
  insecureRegistries: string[];
  logger: Logger;
}

const ENGINE_START_MS = 30_000;
/** The engine's default bridge: its own name and range, so a gantry daemon of the user's is left alone. */
const BRIDGE = 'gantrysrv0';
const BRIDGE_IP = '10.254.254.1/24';

async function engineReady(engine: EngineClient, proc: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + ENGINE_START_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`the node's engine exited: see ${log}`);
    if (
      await engine.call('GET', '/_ping').then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the node's engine did not answer within ${ENGINE_START_MS / 1000} s: see ${log}`);
}

export async function startEmbeddedNode(o: EmbeddedNodeOptions): Promise<{ stop(): Promise<void> }> {
  const dir = path.join(o.dataDir, 'node');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const host = `unix://${path.join(dir, 'engine.sock')}`;
  const args = ['daemon', '-H', host, '--data-root', path.join(dir, 'engine'), '--exec-root', path.join(dir, 'run')];
  args.push('--bridge', BRIDGE, '--bip', BRIDGE_IP);
  for (const m of o.registryMirrors) args.push('--registry-mirror', m);
  for (const r of o.insecureRegistries) args.push('--insecure-registry', r);
  const log = path.join(dir, 'engine.log');
  const out = openSync(log, 'a');
  const proc = spawn(process.execPath, ['--enable-source-maps', process.argv[1]!, ...args], {
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  const engine = new EngineClient(host);
  const stopEngine = (): Promise<void> =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  try {
    await engineReady(engine, proc, log);
    const credentialOptions = {
      server: o.serverUrl,
      ca: o.ca,
      tokenFile: path.join(o.dataDir, 'node-token'),
      nodeName: o.nodeName,
      nodeIp: o.nodeIp,
      dataDir: path.join(dir, 'agent'),
      logger: o.logger,
    };
    const creds = await nodeCredentials(credentialOptions);
    const client = new ClusterClient({ server: o.serverUrl, ca: o.ca, cert: creds.cert, key: creds.key });
    const agent = new NodeAgent(
      client,
      engine,
      {
        nodeName: o.nodeName,
        nodeIp: o.nodeIp,
        pauseImage: 'busybox:latest',
        port: 10250,
        dataDir: path.join(dir, 'agent'),
        ca: o.ca,
        serving: { cert: creds.servingCert, key: creds.servingKey },
        dnsPort: 53,
        nodeLabels: { 'node-role.kubernetes.io/control-plane': 'true' },
        ingressPorts: { http: 80, https: 443 },
      },
      o.logger,
    );
    await agent.start();
    const rotation = new CertificateRotation(
      credentialOptions,
      creds,
      (c) => client.setCertificate(c.cert, c.key),
      (c) => agent.setServingCertificate(c.cert, c.key),
    );
    return {
      stop: async () => {
        rotation.stop();
        await agent.stop();
        client.close();
        await stopEngine();
      },
    };
  } catch (err) {
    await stopEngine();
    throw err;
  }
}
