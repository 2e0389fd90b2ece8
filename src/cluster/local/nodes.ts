/**
 * `gantry cluster node add | stop | start | delete`: a local cluster's nodes after it is up, as
 * `minikube node` manages them. A stopped node is a machine switched off: its agent and engine are gone
 * (and its containers with them), its namespace and address stay, and the node lifecycle controller
 * marks it NotReady once its Lease lapses. The first node holds the API server and is not stopped or
 * deleted alone: `gantry cluster down` takes the cluster.
 */
import { isNotFound } from '../api/errors.js';
import {
  addNodeRecord,
  adminClient,
  engineUp,
  nodesReady,
  prepareNode,
  save,
  startAgent,
  startEngine,
  stopNode,
  type ClusterRecord,
  type NodeRecord,
} from './cluster.js';
import * as lan from './lan.js';
import { isRunning } from './processes.js';

function nodeOf(c: ClusterRecord, name: string): NodeRecord {
  const n = c.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`cluster "${c.name}" has no node named "${name}": ${c.nodes.map((x) => x.name).join(', ')}`);
  return n;
}

function notTheFirst(c: ClusterRecord, n: NodeRecord, what: string): void {
  if (n === c.nodes[0])
    throw new Error(
      `${n.name} runs the API server and cannot be ${what} alone: "gantry cluster down" takes the cluster`,
    );
}

/** A new node, Ready on return. */
export async function addNode(c: ClusterRecord): Promise<NodeRecord> {
  const used = c.nodes.map((n) => Number(/n(\d+)$/.exec(n.hostVeth)?.[1] ?? 0));
  const index = Math.max(0, ...used) + 1;
  if (index > lan.MAX_NODES) throw new Error(`a cluster has ${lan.MAX_NODES} nodes at most`);
  const n = addNodeRecord(c, index);
  try {
    await prepareNode(c, n);
    await startNode(c, n.name);
    return n;
  } catch (err) {
    await deleteNode(c, n.name, true).catch(() => undefined);
    throw err;
  }
}

export async function stopNodeByName(c: ClusterRecord, name: string): Promise<void> {
  const n = nodeOf(c, name);
  notTheFirst(c, n, 'stopped');
  await stopNode(n, c);
  await lan.setNodeLink(c.lan, n, false);
  n.agent = undefined;
  n.engine = undefined;
  save(c);
}

/** Engine and agent again, in the node's namespace; Ready on return. */
export async function startNode(c: ClusterRecord, name: string): Promise<void> {
  const n = nodeOf(c, name);
  if (isRunning(n.agent)) throw new Error(`node ${name} is running`);
  await lan.setNodeLink(c.lan, n, true);
  if (!isRunning(n.engine)) startEngine(c, n);
  await engineUp(c, n);
  startAgent(c, n);
  await nodesReady(c, [n.name]);
}

/** The node's processes, its Node object, its routes and namespace; `force` for a node half made. */
export async function deleteNode(c: ClusterRecord, name: string, force = false): Promise<void> {
  const n = nodeOf(c, name);
  if (!force) notTheFirst(c, n, 'deleted');
  await stopNode(n, c);
  const client = adminClient(c);
  try {
    await client.delete(`/api/v1/nodes/${n.name}`).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  } finally {
    client.close();
  }
  if (n.podCidr) await lan.removeHostRoute(n.podCidr, n.ip);
  await lan.removeNode(n);
  c.nodes = c.nodes.filter((x) => x !== n);
  save(c);
}
