/**
 * `gantry agent`: a node agent on this machine, running pods through a gantry daemon. It joins a
 * cluster with a token file: the cluster CA learnt and checked with the token (or given), then a
 * node certificate of its own through a CertificateSigningRequest.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { ApiClient as EngineClient, DEFAULT_HOST } from '../../api/docker/client.js';
import { NodeAgent } from '../../cluster/agent/agent.js';
import { nodeCredentials, readJoinToken } from '../../cluster/agent/credentials.js';
import { CertificateRotation } from '../../cluster/agent/certrotation.js';
import { discoverClusterCaRetrying } from '../../cluster/agent/discovery.js';
import { isDnsSubdomain, isIp } from '../../cluster/api/validation.js';
import { ApiClient as ClusterClient } from '../../cluster/client/client.js';
import { parseClusterCidr } from '../../cluster/controllers/nodeipam.js';
import { parseCaCertHash } from '../../cluster/pki/jointoken.js';
import { createLogger, logUncaught, type Logger } from '../../common/log.js';
import { goDurationNs } from '../../common/time.js';
import { hostIp } from './server.js';

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

/** An ingress port flag: 0 (none) or a port. */
function ingressPort(value: string, kind: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`invalid --ingress-${kind}-port ${JSON.stringify(value)}: give 0-65535`);
  return port;
}

/**
 * The cluster CA an agent trusts: `--ca-file`, else the one it learnt when it joined, else learnt now
 * from the server with the join token (kept in the data dir for the next start).
 */
async function agentCa(o: {
  server: string;
  caFile?: string;
  caCertHash?: string;
  tokenFile?: string;
  dataDir: string;
  discoveryTimeout: string;
  logger: Logger;
}): Promise<string> {
  if (o.caFile) return readFileSync(o.caFile, 'utf8');
  const kept = path.join(o.dataDir, 'pki', 'ca.crt');
  if (existsSync(kept)) return readFileSync(kept, 'utf8');
  if (!o.tokenFile) throw new Error('give --ca-file, or --token-file to learn the cluster CA from the server');
  const hash = o.caCertHash === undefined ? undefined : parseCaCertHash(o.caCertHash);
  if (o.caCertHash !== undefined && !hash)
    throw new Error(`invalid --ca-cert-hash ${JSON.stringify(o.caCertHash)}: give sha256:<64 hex digits>`);
  const timeoutNs = goDurationNs(o.discoveryTimeout);
  if (timeoutNs === undefined || timeoutNs <= 0)
    throw new Error(`invalid --discovery-timeout ${JSON.stringify(o.discoveryTimeout)}: give a duration such as 5m`);
  const token = readJoinToken(o.tokenFile);
  const ca = await discoverClusterCaRetrying(
    o.server.split(',').filter(Boolean),
    token,
    hash,
    timeoutNs / 1e6,
    (reason) => o.logger.info(`${reason}; trying again`),
  );
  mkdirSync(path.dirname(kept), { recursive: true, mode: 0o700 });
  writeFileSync(kept, ca, { mode: 0o644 });
  return ca;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('Run the node agent: register this machine as a node and run its pods through the engine')
    .requiredOption(
      '-s, --server <url>',
      'the API server, e.g. https://127.0.0.1:6443; several comma-separated for a cluster of servers (used in turn when one fails)',
    )
    .option(
      '--token-file <file>',
      "the join token, to get the node's certificate on first start (the server's data dir holds it in `node-token`)",
    )
    .option(
      '--ca-file <file>',
      "the cluster CA certificate (the server's data dir holds it in tls/ca.crt); without it, it is learnt with the token",
    )
    .option(
      '--ca-cert-hash <sha256:hex>',
      "the hash of the cluster CA's public key, for a token that does not carry it",
    )
    .option(
      '--discovery-timeout <duration>',
      'how long to keep asking the server for the cluster CA while it cannot be reached or has not signed the token',
      '5m0s',
    )
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
    .option(
      '--node-usage-source <source>',
      "the node's CPU and memory in its metrics: host (the machine's) or pods (its pods' and the agent's, for nodes sharing a machine)",
      'host',
    )
    .option('--ingress-http-port <port>', "the ingress proxy's HTTP port on the node (0: none)", '80')
    .option('--ingress-https-port <port>', "the ingress proxy's HTTPS port on the node (0: none)", '443')
    .action(
      async (o: {
        server: string;
        tokenFile?: string;
        caFile?: string;
        caCertHash?: string;
        discoveryTimeout: string;
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
        nodeUsageSource: string;
      }) => {
        const logger = createLogger('gantry-agent', 'info');
        logUncaught(logger);
        if (!isDnsSubdomain(o.nodeName))
          throw new Error(
            `invalid --node-name ${JSON.stringify(o.nodeName)}: a node name is a lowercase DNS subdomain`,
          );
        if (!isIp(o.nodeIp)) throw new Error(`invalid --node-ip ${JSON.stringify(o.nodeIp)}`);
        if (o.clusterCidr) parseClusterCidr(o.clusterCidr);
        if (o.nodeUsageSource !== 'host' && o.nodeUsageSource !== 'pods')
          throw new Error(`invalid --node-usage-source ${JSON.stringify(o.nodeUsageSource)}: give host or pods`);
        const ca = await agentCa({ ...o, logger });
        const credentialOptions = {
          server: o.server,
          ca,
          tokenFile: o.tokenFile,
          nodeName: o.nodeName,
          nodeIp: o.nodeIp,
          dataDir: o.dataDir,
          logger,
        };
        const creds = await nodeCredentials(credentialOptions);
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
            nodeUsage: o.nodeUsageSource,
          },
          logger,
        );
        await agent.start();
        const rotation = new CertificateRotation(
          credentialOptions,
          creds,
          (c) => client.setCertificate(c.cert, c.key),
          (c) => agent.setServingCertificate(c.cert, c.key),
        );
        const stop = (): void => {
          rotation.stop();
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
