/**
 * `gantry cluster up | ls | down`: a multi-node cluster on this machine (see cluster/local), with
 * minikube's node names and kubeconfig handling.
 */
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { startRelay } from '../../cluster/local/relay.js';
import { down, findCluster, listClusters, up } from '../../cluster/local/cluster.js';
import { kubeconfigServer } from '../../cluster/local/controlplane.js';
import { serverUrls } from '../../cluster/local/controlplane.js';
import { addNode, deleteNode, startNode, stopNodeByName } from '../../cluster/local/nodes.js';
import { isRunning } from '../../cluster/local/processes.js';
import { collect } from './common.js';

export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('Run a cluster of several nodes on this machine');
  cluster
    .command('up')
    .description('Bring up a cluster: one network namespace per node on a node LAN, every node Ready on return')
    .option('--nodes <n>', 'how many nodes', '1')
    .option('--servers <n>', 'how many of the nodes run an API server (more than one: on an etcd member each)', '1')
    .option('--name <name>', "the cluster's name (nodes are <name>, <name>-m02, ...)", 'gantry')
    .option('--data-dir <dir>', 'folder for its state (default /var/lib/gantry/clusters/<name>)')
    .option('--api-port <port>', "the API server's port on the first node", '6443')
    .option('--subnet <cidr>', 'the node LAN, a /24 (default: the first free from 192.168.49.0/24)')
    .option('--cluster-cidr <cidr>', "the pods' range; each node gets a /24 of it", '10.42.0.0/16')
    .option('--node-monitor-grace-period <duration>', 'how long a node may be silent before it is NotReady', '40s')
    .option(
      '--host-registry-port <port>',
      "the host's loopback registry, seen by every node as its own localhost:<port>",
      '5000',
    )
    .option('--lb-range <range>', 'LoadBalancer addresses, FIRST-LAST or a CIDR (default: the node LAN .200-.254)')
    .option('--datastore-endpoint <endpoint>', 'etcd for the API server, http://host:2379,... (default: its SQLite)')
    .option('--registry-mirror <url>', "a Docker Hub mirror for every node's engine (repeatable)", collect, [])
    .option('--insecure-registry <host:port>', 'a registry reached over plain HTTP (repeatable)', collect, [])
    .option('--no-kubeconfig', 'do not merge a context into ~/.kube/config')
    .action(
      async (o: {
        nodes: string;
        servers: string;
        name: string;
        dataDir?: string;
        apiPort: string;
        subnet?: string;
        clusterCidr: string;
        nodeMonitorGracePeriod: string;
        hostRegistryPort: string;
        lbRange?: string;
        datastoreEndpoint?: string;
        registryMirror: string[];
        insecureRegistry: string[];
        kubeconfig: boolean;
      }) => {
        const started = Date.now();
        const { cluster: c, kubeconfig } = await up({
          name: o.name,
          nodes: Number(o.nodes),
          servers: Number(o.servers),
          dataDir: o.dataDir,
          apiPort: Number(o.apiPort),
          subnet: o.subnet,
          clusterCidr: o.clusterCidr,
          nodeMonitorGracePeriod: o.nodeMonitorGracePeriod,
          hostRegistryPort: Number(o.hostRegistryPort),
          lbRange: o.lbRange,
          datastoreEndpoint: o.datastoreEndpoint,
          registryMirrors: o.registryMirror,
          insecureRegistries: o.insecureRegistry,
          kubeconfig: o.kubeconfig,
        });
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        process.stdout.write(
          `Cluster "${c.name}" is up: ${c.nodes.length} node(s) Ready in ${secs} s, API servers ${serverUrls(c).replaceAll(',', ', ')}\n` +
            (c.apiLbPort ? `Load balancer before them (the kubeconfig's server): ${kubeconfigServer(c)}\n` : '') +
            `Kubeconfig: ${kubeconfig}${o.kubeconfig ? ` (context "${c.name}" merged into ~/.kube/config)` : ''}\n`,
        );
      },
    );
  cluster
    .command('ls')
    .description('List the clusters that are up')
    .action(() => {
      const rows = listClusters().map((c) => {
        const running = c.nodes.filter((n) => isRunning(n.agent)).length;
        return [c.name, String(c.nodes.length), `${running}/${c.nodes.length}`, kubeconfigServer(c), c.dataDir];
      });
      const table = [['NAME', 'NODES', 'RUNNING', 'API SERVER', 'DATA DIR'], ...rows];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
      for (const r of table)
        process.stdout.write(
          r
            .map((cell, i) => cell.padEnd(widths[i]!))
            .join('   ')
            .trimEnd() + '\n',
        );
    });
  cluster
    .command('down')
    .description('Stop a cluster and remove everything it made')
    .option('--name <name>', "the cluster's name", 'gantry')
    .action(async (o: { name: string }) => {
      const c = findCluster(o.name);
      if (!c) throw new Error(`no cluster named "${o.name}" is up`);
      await down(c);
      process.stdout.write(`Cluster "${o.name}" removed\n`);
    });
  cluster
    .command('relay', { hidden: true })
    .description("Forward the node LAN's connections to the host's loopback registry (run by cluster up)")
    .requiredOption('--listen <host:port>', 'where the nodes connect')
    .requiredOption('--to <host:port>', "the host's registry")
    .action((o: { listen: string; to: string }) => {
      const split = (hp: string): { host: string; port: number } => {
        const i = hp.lastIndexOf(':');
        const port = Number(hp.slice(i + 1));
        if (i <= 0 || !isIP(hp.slice(0, i)) || !Number.isInteger(port) || port < 1 || port > 65535)
          throw new Error(`invalid address ${JSON.stringify(hp)}: give IP:PORT`);
        return { host: hp.slice(0, i), port };
      };
      startRelay(split(o.listen), split(o.to));
    });
  const node = cluster.command('node').description("Add, stop, start or delete a cluster's nodes");
  const clusterNamed = (name: string): NonNullable<ReturnType<typeof findCluster>> => {
    const c = findCluster(name);
    if (!c) throw new Error(`no cluster named "${name}" is up`);
    return c;
  };
  node
    .command('add')
    .description('Add a node, Ready on return')
    .option('--name <name>', "the cluster's name", 'gantry')
    .action(async (o: { name: string }) => {
      const n = await addNode(clusterNamed(o.name));
      process.stdout.write(`Node ${n.name} added (${n.ip})\n`);
    });
  for (const [verb, description, run] of [
    ['stop', 'Stop a node: its agent, engine and containers', stopNodeByName],
    ['start', 'Start a stopped node, Ready on return', startNode],
    ['delete', 'Delete a node: its processes, Node object, namespace and routes', deleteNode],
  ] as const)
    node
      .command(`${verb} <node>`)
      .description(description)
      .option('--name <name>', "the cluster's name", 'gantry')
      .action(async (nodeName: string, o: { name: string }) => {
        await run(clusterNamed(o.name), nodeName);
        process.stdout.write(
          `Node ${nodeName} ${verb === 'stop' ? 'stopped' : verb === 'start' ? 'started' : 'deleted'}\n`,
        );
      });
}
