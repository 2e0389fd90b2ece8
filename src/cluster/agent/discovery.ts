/**
 * Token discovery (kubeadm's `discovery/token`): a machine joining with only a token and the server's
 * URL learns the cluster CA from the public cluster-info ConfigMap, fetched without trusting the
 * server yet, and accepts it only when the bootstrap signer's JWS for the token's id verifies with the
 * token's secret and the CA's public key hashes to what the token (or `--ca-cert-hash`) names.
 * As kubeadm's, it tries again while the server cannot be reached or has not signed the token yet (the
 * signer is a controller: a token just made is signed a moment later), until the discovery timeout.
 */
import https from 'node:https';
import { parse as parseYaml } from 'yaml';
import { CLUSTER_INFO } from '../api/wellknown.js';
import { caCertHash, verifyDetached, type JoinToken } from '../pki/jointoken.js';

const TIMEOUT_MS = 10_000;
const MAX_BYTES = 1 << 20;
const RETRY_MS = 1000;

/** A discovery failure that may pass: the server unreachable, or the token not signed yet. */
export class DiscoveryPending extends Error {}

/** GET a URL of a server not trusted yet; answers status and body (at most 1 MiB). */
function getUntrusted(url: URL): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // Trust comes afterwards, from the token's signature and the CA hash, not from this connection.
    const req = https.get(url, { rejectUnauthorized: false, timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BYTES) req.destroy(new Error('cluster-info is larger than 1 MiB'));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
  });
}

/** The cluster CA (PEM) of the server at `server`, verified with the token; throws saying what failed. */
export async function discoverClusterCa(server: string, token: JoinToken, caHashFlag?: string): Promise<string> {
  const wantHash = caHashFlag ?? token.caHash;
  if (!wantHash)
    throw new Error(
      'the token names no CA: give --ca-cert-hash sha256:<hash> or --ca-file, or a token as `gantry server token create` prints it (K10<hash>::<id>.<secret>)',
    );
  const url = new URL(`/api/v1/namespaces/kube-public/configmaps/${CLUSTER_INFO}`, server);
  const { status, body } = await getUntrusted(url).catch((err: unknown) => {
    throw new DiscoveryPending(
      `cannot reach the server at ${server}: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  if (status !== 200)
    throw new DiscoveryPending(`the server at ${server} did not give its cluster-info (HTTP ${status})`);
  let data: Record<string, unknown>;
  try {
    data = ((JSON.parse(body) as { data?: Record<string, unknown> }).data ?? {}) as Record<string, unknown>;
  } catch {
    throw new Error(`the server at ${server} answered cluster-info with something other than a ConfigMap`);
  }
  const kubeconfig = data.kubeconfig;
  const jws = data[`jws-kubeconfig-${token.id}`];
  if (typeof kubeconfig !== 'string') throw new Error(`the cluster-info of ${server} holds no kubeconfig`);
  if (typeof jws !== 'string')
    throw new DiscoveryPending(
      `the server at ${server} does not know token ${token.id}: it is wrong, expired or revoked`,
    );
  if (!verifyDetached(kubeconfig, jws, token.id, token.secret))
    throw new Error(`the server at ${server} does not know this token's secret: the token is wrong`);
  let caPem: string;
  let have: string;
  try {
    const config = parseYaml(kubeconfig) as {
      clusters?: Array<{ cluster?: { 'certificate-authority-data'?: string } }>;
    };
    caPem = Buffer.from(config.clusters?.[0]?.cluster?.['certificate-authority-data'] ?? '', 'base64').toString();
    have = caCertHash(caPem);
  } catch {
    throw new Error(`the cluster-info of ${server} holds no readable CA certificate`);
  }
  if (have !== wantHash)
    throw new Error(
      `the server's CA (sha256:${have}) is not the one the token names (sha256:${wantHash}): this is not the cluster the token was made for`,
    );
  return caPem;
}

/**
 * The cluster CA from the first of `servers` that verifies it, asking each in turn again every second
 * while their failures may pass; after `timeoutMs` the last such failure is thrown. A wrong secret or
 * another CA is thrown at once: waiting cannot mend it.
 */
export async function discoverClusterCaRetrying(
  servers: string[],
  token: JoinToken,
  caHashFlag: string | undefined,
  timeoutMs: number,
  onRetry: (reason: string) => void = () => {},
): Promise<string> {
  if (servers.length === 0) throw new Error('no server given');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let pending: DiscoveryPending | undefined;
    for (const server of servers) {
      try {
        return await discoverClusterCa(server, token, caHashFlag);
      } catch (err) {
        if (!(err instanceof DiscoveryPending)) throw err;
        pending = err;
      }
    }
    if (Date.now() + RETRY_MS > deadline) throw new Error(pending!.message);
    onRetry(pending!.message);
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}
