/**
 * `gantry server`: the cluster's API server (k3s's flag names), its state in SQLite in the data dir or
 * in etcd, with the controllers; and `gantry kubectl`, which runs the kubectl on PATH with the server's admin kubeconfig.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { isDnsSubdomain, isIp } from '../../cluster/api/validation.js';
import { createLogger, logUncaught } from '../../common/log.js';
import { goDurationNs } from '../../common/time.js';
import { startEmbeddedNode } from './embeddednode.js';
import { ApiServer } from '../../cluster/apiserver/server.js';
import { ensureTls } from '../../cluster/apiserver/tls.js';
import { CONTROLLERS, selectControllers } from '../../cluster/controllers/manager.js';
import { checkJoinedServer, publishBootstrapData, restoreBootstrapData } from '../../cluster/pki/bootstrapdata.js';
import { registerTokenCommands } from './token.js';
import { ApiClient as ClusterClient } from '../../cluster/client/client.js';
import { EndpointReconciler } from '../../cluster/apiserver/endpointreconciler.js';
import { serverIdentity, startElectedControlPlane } from './controlplane.js';
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
  const server = program.command('server');
  registerTokenCommands(server);
  server
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
    .option(
      '--token-file <file>',
      'file holding the server token: an admin bearer token, and the key of the data all servers of a cluster share',
    )
    .option(
      '-s, --server <url>',
      'join the cluster of the server at this URL (with its server token and datastore) instead of starting one',
    )
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
        server?: string;
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
        if (o.server && !o.datastoreEndpoint)
          throw new Error('--server needs --datastore-endpoint: servers of one cluster share an etcd datastore');
        if (o.server && !o.token && !o.tokenFile)
          throw new Error("--server needs the first server's token (--token-file, its data dir holds it in `token`)");
        // Servers share a cluster only through etcd; SQLite is one server's own.
        const restored = !!o.datastoreEndpoint && (await restoreBootstrapData(storage, token, o.dataDir));
        if (o.server && !restored)
          throw new Error(
            `the datastore holds no cluster for this token: give the token of the server at ${o.server} (its data dir holds it in \`token\`)`,
          );
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
        // A server that took the cluster's data from the datastore has nothing to put there (and need not
        // derive the key a second time).
        if (o.datastoreEndpoint && !restored) await publishBootstrapData(storage, token, o.dataDir);
        if (o.server) await checkJoinedServer(o.server, tls.ca, token);
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
        const managerOptions = {
          ca,
          controllers: selected,
          clusterCidr,
          lbPool,
          nodeMonitorGracePeriodMs: graceNs / 1e6,
          hpaSyncPeriodMs: hpaNs / 1e6,
          localStoragePath,
          registry,
          scheduler: false,
        };
        const identity = serverIdentity(o.dataDir, o.nodeName);
        const controlPlane = startElectedControlPlane({
          client: { server: `https://127.0.0.1:${port}`, ca: tls.ca, cert: tls.adminCert, key: tls.adminKey },
          identity,
          logger,
          parts: [
            { lease: 'kube-controller-manager', options: managerOptions },
            ...(!o.disableScheduler && !o.disableControllerManager
              ? [
                  {
                    lease: 'kube-scheduler',
                    options: { ...managerOptions, controllers: new Set<string>(), scheduler: true },
                    thread: true,
                  },
                ]
              : []),
          ],
        });
        // On etcd, several servers may serve the cluster: the `kubernetes` Service leads to the live ones.
        const selfClient = new ClusterClient({
          server: `https://127.0.0.1:${port}`,
          ca: tls.ca,
          cert: tls.adminCert,
          key: tls.adminKey,
        });
        const endpoints = o.datastoreEndpoint
          ? new EndpointReconciler(selfClient, identity, { address: o.advertiseAddress, port }, logger)
          : undefined;
        endpoints?.start();
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
              // Handing the leases back lets another server's controllers take over at once.
              void (endpoints?.stop() ?? Promise.resolve())
                .then(() => controlPlane.stop())
                .finally(() => {
                  selfClient.close();
                  audit?.close();
                  api.server.close();
                  api.server.closeAllConnections();
                  return storage.close();
                })
                .finally(() => process.exit(0));
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

/** The host's first non-loopback IPv4 address, which a node reports as its InternalIP. */
export function hostIp(): string {
  for (const list of Object.values(os.networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}
