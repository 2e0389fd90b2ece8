/**
 * `gantry cluster`: a cluster of N nodes on this machine, as `minikube start --nodes N` makes one, but of
 * network namespaces rather than VMs. Each node has its own engine (data root, exec root, pod bridge on
 * its podCIDR) and agent; the first also runs the API server with the controllers and the scheduler
 * (with `--servers N`, the first N run a server and an etcd member each: see `controlplane.ts`).
 * The nodes sit on a node LAN (`lan`), their agents route pods between them (host-gw), and the host
 * routes to every node's pods too. What a cluster is made of is recorded in `<data-dir>/cluster.json`
 * as it is made, so `down` — or a failed `up` — removes exactly that.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApiClient as EngineClient } from '../../api/docker/client.js';
import { isNodeReady, nodeInternalIp, nodePodCidr } from '../api/pod.js';
import { isDnsLabel } from '../api/validation.js';
import { ApiClient } from '../client/client.js';
import { hostRoutes, overlaps, parseCidr, subnetText } from '../../network/ipnet.js';
import { parseClusterCidr } from '../controllers/nodeipam.js';
import { parseLbRange } from '../controllers/servicelb.js';
import { forgetKubeconfig, writeKubeconfig } from './kubeconfig.js';
import * as lan from './lan.js';
import { isRunning, startInNetns, stopProcess, type NodeProcess } from './processes.js';
import {
  etcdUp,
  haveEtcd,
  kubeconfigServer,
  serverDir,
  serverUrls,
  startApiLoadBalancer,
  startEtcdMembers,
  startFirstServer,
  startJoinedServers,
  stopControlPlane,
  type ControlPlaneRecord,
} from './controlplane.js';

/** Where clusters are found by name (tmpfs, as their namespaces are: neither outlives a reboot). */
export const INDEX_DIR = process.env.GANTRY_CLUSTER_INDEX ?? '/run/gantry/clusters';
export const DEFAULT_ROOT = '/var/lib/gantry/clusters';
const READY_TIMEOUT_MS = 90_000;

export interface UpOptions {
  name: string;
  nodes: number;
  dataDir?: string;
  apiPort: number;
  subnet?: string;
  /** The pods' range, a /24 of it per node. */
  clusterCidr: string;
  /** How long a node may be silent before it is NotReady (a Go duration). */
  nodeMonitorGracePeriod?: string;
  /** The port of the host's loopback registry the nodes see as their own `localhost:<port>`. */
  hostRegistryPort?: number;
  /** LoadBalancer addresses (FIRST-LAST or a CIDR); the node LAN's .200-.254 when not given. */
  lbRange?: string;
  /** etcd for the API server (`http://host:2379,...`); its embedded SQLite when not given. */
  datastoreEndpoint?: string;
  /** How many API servers, on the first nodes (more than one: on etcd, members of their own unless given). */
  servers?: number;
  registryMirrors: string[];
  insecureRegistries: string[];
  kubeconfig: boolean;
}

export interface NodeRecord extends lan.LanNode {
  name: string;
  engine?: NodeProcess;
  agent?: NodeProcess;
  podCidr?: string;
}

export interface ClusterRecord extends ControlPlaneRecord {
  name: string;
  dataDir: string;
  apiPort: number;
  lan: lan.LanPlan;
  clusterCidr: string;
  nodeMonitorGracePeriod: string;
  hostRegistryPort: number;
  lbRange: string;
  datastoreEndpoint?: string;
  /** The relay from the node LAN to the host's loopback registry. */
  relay?: NodeProcess;
  registryMirrors: string[];
  insecureRegistries: string[];
  nodes: NodeRecord[];
}

/** minikube's node names: the cluster's name, then `<name>-m02`, `<name>-m03`, ... */
export const nodeName = (cluster: string, index: number): string =>
  index === 1 ? cluster : `${cluster}-m${String(index).padStart(2, '0')}`;

const indexFile = (name: string): string => path.join(INDEX_DIR, `${name}.json`);
const nodeDir = (c: ClusterRecord, n: NodeRecord): string => path.join(c.dataDir, 'nodes', n.name);
const engineHost = (c: ClusterRecord, n: NodeRecord): string => `unix://${path.join(nodeDir(c, n), 'engine.sock')}`;

export function save(c: ClusterRecord): void {
  writeFileSync(path.join(c.dataDir, 'cluster.json'), JSON.stringify(c, null, 2));
}

export function validateName(name: string): void {
  if (!isDnsLabel(name) || name.length > 20)
    throw new Error(`invalid cluster name ${JSON.stringify(name)}: use up to 20 lowercase letters, digits and '-'`);
}

/** The record of cluster `name`, if it was brought up. */
export function findCluster(name: string): ClusterRecord | undefined {
  validateName(name);
  if (!existsSync(indexFile(name))) return undefined;
  const { dataDir } = JSON.parse(readFileSync(indexFile(name), 'utf8')) as { dataDir: string };
  const file = path.join(dataDir, 'cluster.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ClusterRecord) : undefined;
}

export function listClusters(): ClusterRecord[] {
  if (!existsSync(INDEX_DIR)) return [];
  return readdirSync(INDEX_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => findCluster(f.slice(0, -'.json'.length)))
    .filter((c): c is ClusterRecord => !!c);
}

export function adminClient(c: ClusterRecord): ApiClient {
  const tls = path.join(serverDir(c), 'tls');
  return new ApiClient({
    server: serverUrls(c),
    ca: readFileSync(path.join(tls, 'ca.crt'), 'utf8'),
    cert: readFileSync(path.join(tls, 'admin.crt'), 'utf8'),
    key: readFileSync(path.join(tls, 'admin.key'), 'utf8'),
  });
}

/** A failure waiting cannot mend (a process it waits on exited): ends the wait at once. */
class WaitAborted extends Error {}

/**
 * Probe until it answers something, `timeoutMs` at most; the timeout names what was seen last
 * (`detail`), a WaitAborted from the probe ends the wait at once, other probe errors are retried.
 */
async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  detail?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe().catch((err: unknown) => {
      if (err instanceof WaitAborted) throw err;
      return undefined;
    });
    if (got !== undefined) return got;
    if (Date.now() > deadline) {
      const seen = detail?.();
      throw new Error(`timed out waiting for ${what}${seen ? `: ${seen}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function startEngine(c: ClusterRecord, n: NodeRecord): void {
  const dir = nodeDir(c, n);
  mkdirSync(dir, { recursive: true });
  const args = [
    'daemon',
    '-H',
    engineHost(c, n),
    '--data-root',
    path.join(dir, 'engine'),
    '--exec-root',
    path.join(dir, 'run'),
  ];
  for (const m of c.registryMirrors) args.push('--registry-mirror', m);
  for (const r of c.insecureRegistries) args.push('--insecure-registry', r);
  n.engine = startInNetns(n.netns, args, path.join(dir, 'engine.log'));
  save(c);
}

export function startAgent(c: ClusterRecord, n: NodeRecord): void {
  const dir = nodeDir(c, n);
  const args = ['agent', '--server', serverUrls(c), '--token-file', path.join(serverDir(c), 'node-token')];
  // As a machine joins: the token file alone, the cluster CA learnt from the server and checked with it.
  args.push('--node-name', n.name, '--node-ip', n.ip);
  args.push('--docker-host', engineHost(c, n), '--data-dir', path.join(dir, 'agent'), '--cluster-cidr', c.clusterCidr);
  // The nodes share this machine: each reports its own pods' usage, not the machine's.
  args.push('--announce-load-balancers', '--node-usage-source', 'pods');
  // As minikube's: the first node is the control plane, the others are workers once labelled so.
  if (n !== c.nodes[0]) args.push('--node-labels', '');
  n.agent = startInNetns(n.netns, args, path.join(dir, 'agent.log'));
  save(c);
}

export async function engineUp(c: ClusterRecord, n: NodeRecord): Promise<void> {
  const engine = new EngineClient(engineHost(c, n));
  await waitFor(`the engine of ${n.name} (see ${nodeDir(c, n)}/engine.log)`, 30_000, () =>
    isRunning(n.engine) ? engine.call('GET', '/_ping').then(() => true) : Promise.resolve(undefined),
  );
}

/** Every node Ready with its pod range, then the host's routes to each range. */
export async function nodesReady(c: ClusterRecord, names: string[]): Promise<void> {
  const client = adminClient(c);
  try {
    let seen = 'the API server has not answered';
    const nodes = await waitFor(
      `nodes ${names.join(', ')} to be Ready`,
      READY_TIMEOUT_MS,
      async () => {
        for (const n of c.nodes)
          if (names.includes(n.name) && !isRunning(n.agent))
            throw new WaitAborted(`the agent of ${n.name} exited: see ${path.join(nodeDir(c, n), 'agent.log')}`);
        const list = await client.list('/api/v1/nodes').catch((err: unknown) => {
          seen = `the API server did not answer (${err instanceof Error ? err.message : String(err)})`;
          throw err;
        });
        const state = (name: string): string | undefined => {
          const o = list.items.find((x) => x.metadata?.name === name);
          if (!o) return `${name} not registered`;
          if (!isNodeReady(o)) return `${name} NotReady`;
          return nodePodCidr(o) ? undefined : `${name} without a pod range`;
        };
        const waiting = names.map(state).filter((x): x is string => !!x);
        seen = `${waiting.join(', ')} (agent logs in ${path.join(c.dataDir, 'nodes')}, the server's in ${c.dataDir})`;
        return waiting.length ? undefined : list.items.filter((o) => isNodeReady(o) && nodePodCidr(o));
      },
      () => seen,
    );
    for (const o of nodes) {
      const n = c.nodes.find((x) => x.name === o.metadata?.name);
      const ip = nodeInternalIp(o);
      const podCidr = nodePodCidr(o);
      if (!n || !podCidr || ip !== n.ip || !names.includes(n.name)) continue;
      await lan.addHostRoute(podCidr, n.ip);
      n.podCidr = podCidr;
    }
    save(c);
  } finally {
    client.close();
  }
}

/** A node's namespace on the LAN, its loopback registry port sent to the host's. */
export async function prepareNode(c: ClusterRecord, n: NodeRecord): Promise<void> {
  await lan.createNode(c.lan, n);
  await lan.forwardLoopbackPort(c.lan, n, c.hostRegistryPort);
}

export function addNodeRecord(c: ClusterRecord, index: number): NodeRecord {
  const name = nodeName(c.name, index);
  const n: NodeRecord = { name, ...lan.lanNode(c.name, parseCidr(c.lan.subnet), index, name) };
  c.nodes.push(n);
  save(c);
  return n;
}

/** Bring a cluster up; on any failure, remove what was made and rethrow. */
export async function up(o: UpOptions): Promise<{ cluster: ClusterRecord; kubeconfig: string }> {
  validateName(o.name);
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > lan.MAX_NODES)
    throw new Error(`invalid --nodes ${o.nodes}: a cluster has 1 to ${lan.MAX_NODES} nodes`);
  const servers = o.servers ?? 1;
  if (!Number.isInteger(servers) || servers < 1 || servers > o.nodes)
    throw new Error(`invalid --servers ${servers}: give 1 to the number of nodes (${o.nodes})`);
  if (servers > 1 && !o.datastoreEndpoint && !haveEtcd())
    throw new Error(
      `--servers ${servers} runs an etcd member on each server's node: install etcd (Debian's etcd-server)`,
    );
  const hostRegistryPort = o.hostRegistryPort ?? 5000;
  for (const [flag, port] of [
    ['--api-port', o.apiPort],
    ['--host-registry-port', hostRegistryPort],
  ] as const)
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`invalid ${flag} ${port}: a port is 1 to 65535`);
  if (findCluster(o.name) || existsSync(indexFile(o.name)))
    throw new Error(`cluster "${o.name}" is already up: "gantry cluster down --name ${o.name}" removes it`);
  const others = listClusters();
  const subnet = lan.chooseSubnet(
    o.subnet,
    others.map((c) => parseCidr(c.lan.subnet)),
  );
  const plan = lan.lanPlan(o.name, subnet);
  const lbRange = o.lbRange ?? lan.lbRange(plan);
  parseLbRange(lbRange);
  const pods = parseClusterCidr(o.clusterCidr);
  const clash = [...hostRoutes(), subnet, ...others.map((c) => parseCidr(c.clusterCidr))].find((r) =>
    overlaps(r, pods),
  );
  if (clash)
    throw new Error(`--cluster-cidr ${subnetText(pods)} overlaps ${subnetText(clash)}, a network already in use here`);
  for (let i = 1; i <= o.nodes; i++)
    if (lan.netnsExists(lan.netnsName(nodeName(o.name, i))))
      throw new Error(
        `network namespace ${lan.netnsName(nodeName(o.name, i))} exists already: is another cluster using the name?`,
      );
  const dataDir = path.resolve(o.dataDir ?? path.join(DEFAULT_ROOT, o.name));
  if (existsSync(path.join(dataDir, 'cluster.json')))
    throw new Error(`${dataDir} holds another cluster's state: give another --data-dir`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(INDEX_DIR, { recursive: true });
  const c: ClusterRecord = {
    name: o.name,
    dataDir,
    apiPort: o.apiPort,
    lan: plan,
    clusterCidr: subnetText(pods),
    nodeMonitorGracePeriod: o.nodeMonitorGracePeriod ?? '40s',
    hostRegistryPort,
    lbRange,
    datastoreEndpoint: o.datastoreEndpoint,
    servers,
    registryMirrors: o.registryMirrors,
    insecureRegistries: o.insecureRegistries,
    nodes: [],
  };
  save(c);
  writeFileSync(indexFile(o.name), JSON.stringify({ dataDir }));
  try {
    await lan.createLan(c.lan);
    c.relay = startInNetns(
      undefined,
      [
        'cluster',
        'relay',
        '--listen',
        `${c.lan.hostIp}:${c.hostRegistryPort}`,
        '--to',
        `127.0.0.1:${c.hostRegistryPort}`,
      ],
      path.join(c.dataDir, 'relay.log'),
    );
    save(c);
    for (let i = 1; i <= o.nodes; i++) {
      const n = addNodeRecord(c, i);
      await prepareNode(c, n);
      startEngine(c, n);
    }
    const datastore = c.datastoreEndpoint ?? (servers > 1 ? startEtcdMembers(c) : undefined);
    save(c);
    if (c.etcd) await etcdUp(c);
    startFirstServer(c, datastore);
    save(c);
    await Promise.all(c.nodes.map((n) => engineUp(c, n)));
    const answers = async (index: number, proc: NodeProcess | undefined, log: string): Promise<true | undefined> => {
      if (!isRunning(proc)) throw new WaitAborted(`an API server exited: see ${path.join(c.dataDir, log)}`);
      return existsSync(path.join(serverDir(c, index), 'kubeconfig.yaml')) || undefined;
    };
    await waitFor('the API server', 60_000, () => answers(0, c.server, 'server.log'));
    startJoinedServers(c, datastore);
    save(c);
    for (const [i, proc] of (c.joinedServers ?? []).entries())
      await waitFor(`API server ${i + 2}`, 60_000, () => answers(i + 1, proc, `server-${i + 2}.log`));
    await startApiLoadBalancer(c);
    save(c);
    for (const n of c.nodes) startAgent(c, n);
    await nodesReady(
      c,
      c.nodes.map((n) => n.name),
    );
    return {
      cluster: c,
      kubeconfig: writeKubeconfig(
        path.join(serverDir(c), 'kubeconfig.yaml'),
        { name: c.name, server: kubeconfigServer(c) },
        path.join(c.dataDir, 'kubeconfig.yaml'),
        o.kubeconfig,
      ),
    };
  } catch (err) {
    // Everything made goes, its logs with it: the end of each is kept in the error.
    const logs = logTails(c);
    await down(c).catch(() => undefined);
    if (err instanceof Error && logs) err.message += `\n${logs}`;
    throw err;
  }
}

/** The last lines of a cluster's server and agent logs, for an error about a cluster that is then removed. */
function logTails(c: ClusterRecord, lines = 8): string {
  const files = [path.join(c.dataDir, 'server.log'), ...c.nodes.map((n) => path.join(nodeDir(c, n), 'agent.log'))];
  return files
    .filter((f) => existsSync(f))
    .map((f) => {
      const tail = readFileSync(f, 'utf8').trimEnd().split('\n').slice(-lines);
      return `--- ${path.relative(c.dataDir, f)} (last ${tail.length} lines)\n${tail.join('\n')}`;
    })
    .join('\n');
}

/** Stop one node's processes: the agent first (it would restart pods), its pods' containers, then the engine. */
export async function stopNode(n: NodeRecord, c: ClusterRecord): Promise<void> {
  await stopProcess(n.agent);
  if (isRunning(n.engine)) {
    const engine = new EngineClient(engineHost(c, n));
    const all = await engine
      .json<Array<{ Id: string }>>('GET', '/containers/json', { query: { all: '1' } })
      .catch(() => []);
    await Promise.all(
      all.map((ct) =>
        engine.call('DELETE', `/containers/${ct.Id}`, { query: { force: '1', v: '1' } }).catch(() => undefined),
      ),
    );
  }
  await stopProcess(n.engine);
}

/** Everything a cluster made, in reverse: processes, routes, namespaces, the LAN, mounts, files, its kubeconfig entries. */
export async function down(c: ClusterRecord): Promise<void> {
  for (const n of c.nodes.slice(1)) await stopNode(n, c);
  const first = c.nodes[0];
  if (first) await stopProcess(first.agent);
  await stopControlPlane(c);
  if (first) await stopNode(first, c);
  for (const n of c.nodes) {
    if (n.podCidr) await lan.removeHostRoute(n.podCidr, n.ip);
    await lan.removeNode(n);
  }
  await stopProcess(c.relay);
  await lan.removeLan(c.lan);
  unmountUnder(c.dataDir);
  rmSync(c.dataDir, { recursive: true, force: true });
  rmSync(indexFile(c.name), { force: true });
  forgetKubeconfig(c.name);
}

/** Mounts left beneath a directory (a container's rootfs whose engine was killed), deepest first. */
function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      // umount(2) via the util-linux binary: Node has no binding, and the path comes from the kernel.
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // Already gone with its parent.
    }
  }
}
