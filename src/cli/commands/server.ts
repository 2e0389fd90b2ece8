/**
 * `gantry server`: the cluster's API server (k3s's flag names), its state in SQLite in the data dir or
 * in etcd, with the controllers; `gantry agent`: a node agent running pods through a gantry daemon;
 * and `gantry kubectl`, which runs the kubectl on PATH with the server's admin kubeconfig.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { ApiClient as EngineClient, DEFAULT_HOST } from '../../api/docker/client.js';
import { NodeAgent } from '../../cluster/agent/agent.js';
import { nodeCredentials } from '../../cluster/agent/credentials.js';
import { isDnsSubdomain, isIp } from '../../cluster/api/validation.js';
import { ApiClient as ClusterClient } from '../../cluster/client/client.js';
import { createLogger, logUncaught } from '../../common/log.js';
import { goDurationNs } from '../../common/time.js';
import { startEmbeddedNode } from './embeddednode.js';
import { ApiServer } from '../../cluster/apiserver/server.js';
import { ensureTls } from '../../cluster/apiserver/tls.js';
import { ControllerManager, CONTROLLERS, selectControllers } from '../../cluster/controllers/manager.js';
import { parseClusterCidr } from '../../cluster/controllers/nodeipam.js';
import { parseLbRange } from '../../cluster/controllers/servicelb.js';
import { isStorageRoot } from '../../cluster/controllers/localpath.js';
import { fileAuditSink } from '../../cluster/apiserver/audit.js';
import { EtcdStorage } from '../../cluster/storage/etcd.js';
import { InstrumentedStorage } from '../../cluster/storage/metrics.js';
import { SqliteStorage } from '../../cluster/storage/sqlite.js';
import { processRegistry } from '../../common/metrics.js';
import type { Storage } from '../../cluster/storage/types.js';
import { collect } from './common.js';
import { intToIp, parseCidr } from '../../network/ipnet.js';

export const DEFAULT_DATA_DIR = '/var/lib/gantry/server';

function kubeconfig(server: string, tls: ReturnType<typeof ensureTls>): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${b64(tls.ca)}`,
    `    server: ${server}`,
    '  name: gantry',
    'contexts:',
    '- context:',
    '    cluster: gantry',
    '    user: admin',
    '  name: gantry',
    'current-context: gantry',
    'preferences: {}',
    'users:',
    '- name: admin',
    '  user:',
    `    client-certificate-data: ${b64(tls.adminCert)}`,
    `    client-key-data: ${b64(tls.adminKey)}`,
    '',
  ].join('\n');
}

export function registerServerCommands(program: Command): void {
  program
    .command('server')
    .description('Run the cluster API server')
    .option('-d, --data-dir <dir>', 'folder to hold state', DEFAULT_DATA_DIR)
    .option('--https-listen-port <port>', 'HTTPS listen port', '6443')
    .option('--bind-address <address>', 'address to listen on', '0.0.0.0')
    .option('--advertise-address <address>', 'address the kubernetes Service points at', '127.0.0.1')
    .option('--datastore-endpoint <endpoint>', 'empty for embedded SQLite, or http://host:2379,... for etcd', '')
    .option('--cluster-cidr <cidr>', 'network CIDR for pod IPs; each node gets a /24 of it', '10.42.0.0/16')
    .option('--service-cidr <cidr>', 'network CIDR for service IPs', '10.43.0.0/16')
    .option('--service-node-port-range <range>', 'port range reserved for NodePort services', '30000-32767')
    .option(
      '-t, --token <token>',
      'shared secret accepted as an admin bearer token (visible in the process list: prefer --token-file)',
    )
    .option('--token-file <file>', 'file holding the admin bearer token')
    .option(
      '--controllers <list>',
      `controllers to run: '*' for those on by default, 'name' to add one, '-name' to remove one (${CONTROLLERS.map((c) => c.name).join(', ')})`,
      '*',
    )
    .option(
      '--disable-controller-manager',
      'run only the controllers deletion and pods need (garbagecollector, namespace, serviceaccount, root-ca-cert-publisher, persistentvolume-protection), not the workload ones',
    )
    .option('--disable-scheduler', 'do not run the scheduler')
    .option(
      '--node-monitor-grace-period <duration>',
      'how long a node may be silent before it is marked NotReady',
      '40s',
    )
    .option(
      '--horizontal-pod-autoscaler-sync-period <duration>',
      'how often each HorizontalPodAutoscaler reads its metrics',
      '15s',
    )
    .option(
      '--default-local-storage-path <dir>',
      "where the local-path StorageClass's volumes live on each node (default: <data-dir>/storage)",
    )
    .option('--lb-range <range>', 'addresses for LoadBalancer Services (FIRST-LAST or a CIDR); none when not given')
    .option('--disable-agent', 'run the control plane only: no engine and node agent on this machine')
    .option('--node-name <name>', "the name of this machine's node", os.hostname())
    .option('--node-ip <address>', "the address this machine's node reports", hostIp())
    .option('--registry-mirror <url>', "a Docker Hub mirror for this machine's engine (repeatable)", collect, [])
    .option(
      '--insecure-registry <host:port>',
      "a registry this machine's engine reaches over plain HTTP (repeatable)",
      collect,
      [],
    )
    .option('--audit-log-path <file>', 'write an audit.k8s.io/v1 Event (Metadata level) per request to this file')
    .option(
      '--etcd-compaction-interval <seconds>',
      'compact the datastore this often, to the revision seen one interval earlier (0: never)',
      '300',
    )
    .action(
      async (o: {
        dataDir: string;
        httpsListenPort: string;
        bindAddress: string;
        advertiseAddress: string;
        datastoreEndpoint: string;
        serviceCidr: string;
        clusterCidr: string;
        lbRange?: string;
        defaultLocalStoragePath?: string;
        nodeMonitorGracePeriod: string;
        horizontalPodAutoscalerSyncPeriod: string;
        serviceNodePortRange: string;
        token?: string;
        tokenFile?: string;
        etcdCompactionInterval: string;
        disableControllerManager?: boolean;
        controllers: string;
        disableScheduler?: boolean;
        auditLogPath?: string;
        disableAgent?: boolean;
        nodeName: string;
        nodeIp: string;
        registryMirror: string[];
        insecureRegistry: string[];
      }) => {
        const selected = selectControllers(o.controllers);
        const clusterCidr = parseClusterCidr(o.clusterCidr);
        const lbPool = o.lbRange ? parseLbRange(o.lbRange) : undefined;
        const graceNs = goDurationNs(o.nodeMonitorGracePeriod);
        if (!graceNs || graceNs < 1e9)
          throw new Error(
            `invalid --node-monitor-grace-period ${o.nodeMonitorGracePeriod}: give a duration of 1s or more`,
          );
        const hpaNs = goDurationNs(o.horizontalPodAutoscalerSyncPeriod);
        if (!hpaNs || hpaNs < 1e9)
          throw new Error(
            `invalid --horizontal-pod-autoscaler-sync-period ${o.horizontalPodAutoscalerSyncPeriod}: give a duration of 1s or more`,
          );
        const localStoragePath = path.resolve(o.defaultLocalStoragePath ?? path.join(o.dataDir, 'storage'));
        if (!isStorageRoot(localStoragePath))
          throw new Error(
            `invalid --default-local-storage-path ${o.defaultLocalStoragePath}: give an absolute folder other than / without ':'`,
          );
        if (o.disableControllerManager) for (const d of CONTROLLERS) if (!d.core) selected.delete(d.name);
        const logger = createLogger('gantry-server', 'info');
        logUncaught(logger);
        mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
        const tokenFile = path.join(o.dataDir, 'token');
        const token =
          o.token ??
          (o.tokenFile ? readFileSync(o.tokenFile, 'utf8').trim() : undefined) ??
          (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : randomBytes(24).toString('hex'));
        writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
        const [lo, hi] = o.serviceNodePortRange.split('-').map(Number);
        if (!lo || !hi || lo > hi) throw new Error(`invalid --service-node-port-range: ${o.serviceNodePortRange}`);
        let storage: Storage;
        if (o.datastoreEndpoint) {
          if (!/^https?:\/\//.test(o.datastoreEndpoint))
            throw new Error(
              `unsupported --datastore-endpoint ${o.datastoreEndpoint}: give http(s)://host:port of etcd, or nothing for SQLite`,
            );
          storage = new EtcdStorage(o.datastoreEndpoint.split(','));
        } else {
          mkdirSync(path.join(o.dataDir, 'db'), { recursive: true });
          storage = new SqliteStorage(path.join(o.dataDir, 'db', 'state.db'));
        }
        const registry = processRegistry();
        storage = new InstrumentedStorage(storage, registry);
        // In-cluster clients dial the `kubernetes` Service's address, the first of the service range.
        const tls = ensureTls(o.dataDir, [intToIp(parseCidr(o.serviceCidr).base + 1), o.advertiseAddress]);
        const port = Number(o.httpsListenPort);
        const audit = o.auditLogPath ? fileAuditSink(o.auditLogPath) : undefined;
        const api = new ApiServer({
          audit: audit?.sink,
          storage,
          tls,
          adminTokens: [token],
          serviceCidr: o.serviceCidr,
          nodePortRange: [lo, hi],
          logger,
          registry,
        });
        await api.bootstrap({ address: o.advertiseAddress, port });
        const nodeTokenFile = path.join(o.dataDir, 'node-token');
        await api.ensureNodeToken(nodeTokenFile);
        await new Promise<void>((resolve, reject) => {
          api.server.once('error', reject);
          api.server.listen(port, o.bindAddress, () => resolve());
        });
        // As the Kubernetes API server does: each interval, compact to the revision seen one interval before.
        const interval = Number(o.etcdCompactionInterval);
        let previous = 0;
        const compactor =
          interval > 0
            ? setInterval(() => {
                void storage
                  .revision()
                  .then(async (rev) => {
                    if (previous > 0) await storage.compact(previous);
                    previous = rev;
                  })
                  .catch((err: unknown) => logger.warn({ err: String(err) }, 'compaction failed'));
              }, interval * 1000)
            : undefined;
        const ca = { certFile: path.join(o.dataDir, 'tls', 'ca.crt'), keyFile: path.join(o.dataDir, 'tls', 'ca.key') };
        const controllers = new ControllerManager(
          { server: `https://127.0.0.1:${port}`, ca: tls.ca, cert: tls.adminCert, key: tls.adminKey },
          logger,
          {
            scheduler: !o.disableScheduler && !o.disableControllerManager,
            ca,
            controllers: selected,
            clusterCidr,
            lbPool,
            nodeMonitorGracePeriodMs: graceNs / 1e6,
            hpaSyncPeriodMs: hpaNs / 1e6,
            localStoragePath,
            registry,
          },
        );
        await controllers.start();
        const kc = path.join(o.dataDir, 'kubeconfig.yaml');
        writeFileSync(kc, kubeconfig(`https://127.0.0.1:${port}`, tls), { mode: 0o600 });
        logger.info(
          {
            port,
            datastore: o.datastoreEndpoint || 'sqlite',
            kubeconfig: kc,
            nodeToken: nodeTokenFile,
            dashboard: `https://127.0.0.1:${port}/dashboard/`,
          },
          `Wrote kubeconfig ${kc}`,
        );
        let node: { stop(): Promise<void> } | undefined;
        if (!o.disableAgent) {
          if (!isDnsSubdomain(o.nodeName))
            throw new Error(
              `invalid --node-name ${JSON.stringify(o.nodeName)}: a node name is a lowercase DNS subdomain`,
            );
          if (!isIp(o.nodeIp)) throw new Error(`invalid --node-ip ${JSON.stringify(o.nodeIp)}`);
          node = await startEmbeddedNode({
            dataDir: o.dataDir,
            serverUrl: `https://127.0.0.1:${port}`,
            ca: tls.ca,
            nodeName: o.nodeName,
            nodeIp: o.nodeIp,
            registryMirrors: o.registryMirror,
            insecureRegistries: o.insecureRegistry,
            logger,
          });
        }
        const stop = (): void => {
          if (compactor) clearInterval(compactor);
          // The node first: its agent removes its rules and addresses before the process goes.
          void (node?.stop() ?? Promise.resolve())
            .catch((err: unknown) => logger.warn({ err: String(err) }, 'node not stopped cleanly'))
            .finally(() => {
              controllers.stop();
              audit?.close();
              api.server.close();
              api.server.closeAllConnections();
              void storage.close().finally(() => process.exit(0));
            });
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      },
    );

  program
    .command('kubectl')
    .description("Run kubectl with the server's admin kubeconfig")
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]')
    .option('--data-dir <dir>', 'the server data dir', DEFAULT_DATA_DIR)
    .action((args: string[], o: { dataDir: string }) => {
      const env = { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? path.join(o.dataDir, 'kubeconfig.yaml') };
      const child = spawn('kubectl', args, { stdio: 'inherit', env });
      child.on('exit', (code) => process.exit(code ?? 1));
      child.on('error', (err) => {
        process.stderr.write(`gantry: kubectl: ${err.message}\n`);
        process.exit(127);
      });
    });
}

/** kubelet's `--node-labels`: `key=value` pairs separated by commas. */
export function parseNodeLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`invalid --node-labels ${JSON.stringify(text)}: give key=value[,key=value...]`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

/** The host's first non-loopback IPv4 address, which a node reports as its InternalIP. */
function hostIp(): string {
  for (const list of Object.values(os.networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

/** An ingress port flag: 0 (none) or a port. */
function ingressPort(value: string, kind: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`invalid --ingress-${kind}-port ${JSON.stringify(value)}: give 0-65535`);
  return port;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('Run the node agent: register this machine as a node and run its pods through the engine')
    .requiredOption('-s, --server <url>', 'the API server, e.g. https://127.0.0.1:6443')
    .option(
      '--token-file <file>',
      "the join token, to get the node's certificate on first start (the server's data dir holds it in `node-token`)",
    )
    .requiredOption('--ca-file <file>', "the cluster CA certificate (the server's data dir holds it in tls/ca.crt)")
    .option('--node-name <name>', 'the name of the node', os.hostname())
    .option('--node-ip <address>', 'the address the node reports', hostIp())
    .option('--docker-host <host>', "the engine's Docker API", DEFAULT_HOST)
    .option(
      '--pause-image <image>',
      "the image of each pod's infrastructure container (it runs sleep)",
      'busybox:latest',
    )
    .option('--kubelet-port <port>', "the port of the agent's HTTPS endpoint (logs for the API server)", '10250')
    .option('-d, --data-dir <dir>', "folder for the agent's certificate", '/var/lib/gantry/agent')
    .option('--cluster-dns-port <port>', "the port of the cluster DNS on the node's address", '53')
    .option(
      '--cluster-cidr <cidr>',
      "the cluster's pod range: route to other nodes' pods directly (host-gw, nodes on one link) and leave pod-to-pod traffic unmasqueraded",
    )
    .option(
      '--node-labels <labels>',
      'labels to register the node with, key=value[,key=value...] (empty for none)',
      'node-role.kubernetes.io/control-plane=true',
    )
    .option('--announce-load-balancers', "answer on the node's interface for LoadBalancer Services' addresses")
    .option('--ingress-http-port <port>', "the ingress proxy's HTTP port on the node (0: none)", '80')
    .option('--ingress-https-port <port>', "the ingress proxy's HTTPS port on the node (0: none)", '443')
    .action(
      async (o: {
        server: string;
        tokenFile?: string;
        caFile: string;
        nodeName: string;
        nodeIp: string;
        dockerHost: string;
        pauseImage: string;
        kubeletPort: string;
        dataDir: string;
        clusterDnsPort: string;
        clusterCidr?: string;
        announceLoadBalancers?: boolean;
        nodeLabels: string;
        ingressHttpPort: string;
        ingressHttpsPort: string;
      }) => {
        const logger = createLogger('gantry-agent', 'info');
        logUncaught(logger);
        if (!isDnsSubdomain(o.nodeName))
          throw new Error(
            `invalid --node-name ${JSON.stringify(o.nodeName)}: a node name is a lowercase DNS subdomain`,
          );
        if (!isIp(o.nodeIp)) throw new Error(`invalid --node-ip ${JSON.stringify(o.nodeIp)}`);
        if (o.clusterCidr) parseClusterCidr(o.clusterCidr);
        const ca = readFileSync(o.caFile, 'utf8');
        const creds = await nodeCredentials({
          server: o.server,
          ca,
          tokenFile: o.tokenFile,
          nodeName: o.nodeName,
          nodeIp: o.nodeIp,
          dataDir: o.dataDir,
          logger,
        });
        const client = new ClusterClient({ server: o.server, ca, cert: creds.cert, key: creds.key });
        const agent = new NodeAgent(
          client,
          new EngineClient(o.dockerHost),
          {
            nodeName: o.nodeName,
            nodeIp: o.nodeIp,
            pauseImage: o.pauseImage,
            port: Number(o.kubeletPort),
            dataDir: o.dataDir,
            ca,
            serving: { cert: creds.servingCert, key: creds.servingKey },
            dnsPort: Number(o.clusterDnsPort),
            clusterCidr: o.clusterCidr,
            announceLoadBalancers: !!o.announceLoadBalancers,
            nodeLabels: parseNodeLabels(o.nodeLabels),
            ingressPorts: {
              http: ingressPort(o.ingressHttpPort, 'http'),
              https: ingressPort(o.ingressHttpsPort, 'https'),
            },
          },
          logger,
        );
        await agent.start();
        const stop = (): void => {
          void agent.stop().finally(() => {
            client.close();
            process.exit(0);
          });
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      },
    );
}
