/**
 * A local cluster's control plane: one `gantry server` on the first node on its SQLite (or a given
 * etcd), or — with `--servers N` — an etcd member and a server on each of the first N nodes, as k3s
 * runs servers on an etcd cluster: the first server makes the cluster and the others join it with its
 * server token, all on one datastore, each serving the API on its node's address. Agents are given
 * every server and fail over between them; the controllers and scheduler run on one leader at a time.
 * kubectl names one server, so with several a `gantry lb` on the host's loopback stands in front of them
 * and the cluster's kubeconfig names it.
 */
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { LanNode } from './lan.js';
import { startCommandInNetns, startInNetns, stopProcess, type NodeProcess } from './processes.js';

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

/** What of a cluster record the control plane reads and writes. */
export interface ControlPlaneRecord {
  name: string;
  dataDir: string;
  apiPort: number;
  clusterCidr: string;
  lbRange: string;
  nodeMonitorGracePeriod: string;
  datastoreEndpoint?: string;
  /** How many servers (1 when absent: older records). */
  servers?: number;
  /** The first server. */
  server?: NodeProcess;
  /** The servers after the first. */
  joinedServers?: NodeProcess[];
  /** The load balancer before the servers (with `--servers` > 1), on the host's loopback, and its port. */
  apiLb?: NodeProcess;
  apiLbPort?: number;
  /** The etcd members this cluster runs itself (with `--servers` > 1 and no datastore given). */
  etcd?: NodeProcess[];
  nodes: Array<LanNode & { name: string }>;
}

export const serverDir = (c: ControlPlaneRecord, index = 0): string =>
  path.join(c.dataDir, index === 0 ? 'server' : `server-${index + 1}`);

export const controlPlaneNodes = (c: ControlPlaneRecord): ControlPlaneRecord['nodes'] =>
  c.nodes.slice(0, c.servers ?? 1);

/** Every server's URL, comma-separated, as agents and clients take them. */
export const serverUrls = (c: ControlPlaneRecord): string =>
  controlPlaneNodes(c)
    .map((n) => `https://${n.ip}:${c.apiPort}`)
    .join(',');

/** The URL kubeconfigs name: the load balancer when there is one, else the first server. */
export const kubeconfigServer = (c: ControlPlaneRecord): string =>
  c.apiLbPort ? `https://127.0.0.1:${c.apiLbPort}` : `https://${c.nodes[0]!.ip}:${c.apiPort}`;

/** Whether something takes connections on `host:port`. */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** A port free on the host's loopback now (the load balancer takes it a moment later). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** With more than one server: `gantry lb` on the host's loopback before them all; resolves once it listens. */
export async function startApiLoadBalancer(c: ControlPlaneRecord, timeoutMs = 10_000): Promise<void> {
  if ((c.servers ?? 1) < 2) return;
  const port = await freeLoopbackPort();
  const log = path.join(c.dataDir, 'lb.log');
  c.apiLb = startInNetns(undefined, ['lb', '--listen', `127.0.0.1:${port}`, '--server', serverUrls(c)], log);
  c.apiLbPort = port;
  const deadline = Date.now() + timeoutMs;
  while (!(await answers('127.0.0.1', port))) {
    if (Date.now() > deadline) throw new Error(`the API load balancer did not start: see ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether `etcd` is on PATH (Debian's etcd-server). */
export function haveEtcd(): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(path.join(dir, 'etcd')));
}

/** Resolves once every member of `c.etcd` takes connections (each on its node's address). */
export async function etcdUp(c: ControlPlaneRecord, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const n of controlPlaneNodes(c)) {
    for (;;) {
      if (await answers(n.ip, ETCD_CLIENT_PORT)) break;
      if (Date.now() > deadline)
        throw new Error(`etcd on ${n.name} did not answer: see ${path.join(c.dataDir, 'etcd', n.name, 'etcd.log')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** etcd members on the control-plane nodes' addresses; answers the datastore endpoint. */
export function startEtcdMembers(c: ControlPlaneRecord): string {
  const nodes = controlPlaneNodes(c);
  const initial = nodes.map((n) => `${n.name}=http://${n.ip}:${ETCD_PEER_PORT}`).join(',');
  c.etcd = nodes.map((n) => {
    const dir = path.join(c.dataDir, 'etcd', n.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const client = `http://${n.ip}:${ETCD_CLIENT_PORT}`;
    const peer = `http://${n.ip}:${ETCD_PEER_PORT}`;
    const argv = ['etcd', '--name', n.name, '--data-dir', path.join(dir, 'data')];
    argv.push('--listen-client-urls', client, '--advertise-client-urls', client);
    argv.push('--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer);
    argv.push('--initial-cluster', initial, '--initial-cluster-token', `gantry-${c.name}`);
    return startCommandInNetns(n.netns, argv, path.join(dir, 'etcd.log'), 'etcd');
  });
  return nodes.map((n) => `http://${n.ip}:${ETCD_CLIENT_PORT}`).join(',');
}

function serverArgs(c: ControlPlaneRecord, index: number, datastore: string | undefined): string[] {
  const n = c.nodes[index]!;
  const args = ['server', '--data-dir', serverDir(c, index), '--https-listen-port', String(c.apiPort)];
  args.push('--bind-address', '0.0.0.0', '--advertise-address', n.ip, '--node-name', n.name);
  args.push('--cluster-cidr', c.clusterCidr, '--lb-range', c.lbRange);
  if (datastore) args.push('--datastore-endpoint', datastore);
  if (index > 0) {
    const first = c.nodes[0]!;
    args.push('--server', `https://${first.ip}:${c.apiPort}`, '--token-file', path.join(serverDir(c, 0), 'token'));
  }
  // Each node's engine and agent run on their own (the servers' nodes' too), so servers run none.
  args.push('--node-monitor-grace-period', c.nodeMonitorGracePeriod, '--disable-agent');
  return args;
}

/** The first server (its node's namespace); `startJoinedServers` once it answers. */
export function startFirstServer(c: ControlPlaneRecord, datastore: string | undefined): void {
  mkdirSync(serverDir(c, 0), { recursive: true });
  c.server = startInNetns(c.nodes[0]!.netns, serverArgs(c, 0, datastore), path.join(c.dataDir, 'server.log'));
}

export function startJoinedServers(c: ControlPlaneRecord, datastore: string | undefined): void {
  c.joinedServers = [];
  for (let i = 1; i < (c.servers ?? 1); i++) {
    mkdirSync(serverDir(c, i), { recursive: true });
    const log = path.join(c.dataDir, `server-${i + 1}.log`);
    c.joinedServers.push(startInNetns(c.nodes[i]!.netns, serverArgs(c, i, datastore), log));
  }
}

/** The load balancer, the servers, then the etcd members under them. */
export async function stopControlPlane(c: ControlPlaneRecord): Promise<void> {
  await stopProcess(c.apiLb);
  for (const s of c.joinedServers ?? []) await stopProcess(s);
  await stopProcess(c.server);
  for (const m of c.etcd ?? []) await stopProcess(m);
}
