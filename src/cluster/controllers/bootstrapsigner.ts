/**
 * The bootstrap signer and token cleaner (Kubernetes' `pkg/controller/bootstrap`): the public
 * ConfigMap `kube-public/cluster-info` carries, for every live bootstrap token meant for signing, a
 * detached JWS of its kubeconfig keyed `jws-kubeconfig-<token id>` — how a joining machine learns that
 * the server knows its token before it trusts the CA it is shown; signatures of deleted or expired
 * tokens are taken out. Expired token Secrets are deleted when they expire.
 */
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import { BOOTSTRAP_TOKEN_TYPE, CLUSTER_INFO } from '../api/wellknown.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import { signDetached } from '../pki/jointoken.js';
import { WorkQueue } from './controller.js';

const JWS_PREFIX = 'jws-kubeconfig-';
const SIGNER_KEY = `kube-public/${CLUSTER_INFO}`;

interface TokenData {
  id: string;
  secret: string;
  expiration?: string;
  signing: boolean;
}

/** A bootstrap token Secret's fields (base64 `data`, as the informer holds it); undefined when it is not one. */
export function tokenOf(secret: KObject): TokenData | undefined {
  if (secret.type !== BOOTSTRAP_TOKEN_TYPE || secret.metadata?.namespace !== 'kube-system') return undefined;
  const data = (secret.data ?? {}) as Record<string, string>;
  const field = (k: string): string | undefined =>
    data[k] === undefined ? undefined : Buffer.from(data[k], 'base64').toString('utf8');
  const id = field('token-id');
  const tokenSecret = field('token-secret');
  if (!id || !tokenSecret || secret.metadata?.name !== `bootstrap-token-${id}`) return undefined;
  return {
    id,
    secret: tokenSecret,
    expiration: field('expiration'),
    signing: field('usage-bootstrap-signing') === 'true',
  };
}

const expired = (t: TokenData, now: number): boolean => !!t.expiration && !(Date.parse(t.expiration) > now);

export class BootstrapSigner {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly secrets: Informer,
    private readonly configMaps: Informer,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    const secretChanged = (o: KObject): void => {
      if (o.type !== BOOTSTRAP_TOKEN_TYPE) return;
      this.queue.add(SIGNER_KEY);
      this.queue.add(`kube-system/${o.metadata?.name ?? ''}`);
    };
    secrets.on({ add: secretChanged, update: (_old, o) => secretChanged(o), delete: secretChanged });
    const configMapChanged = (o: KObject): void => {
      if (o.metadata?.namespace === 'kube-public' && o.metadata.name === CLUSTER_INFO) this.queue.add(SIGNER_KEY);
    };
    configMaps.on({ add: configMapChanged, update: (_old, o) => configMapChanged(o) });
  }

  run(): Promise<void> {
    return this.queue.run('bootstrapsigner', (key) => this.sync(key), this.logger, 1);
  }

  async sync(key: string): Promise<void> {
    if (key === SIGNER_KEY) return this.sign();
    const secret = this.secrets.get(key);
    const token = secret && tokenOf(secret);
    if (!secret || !token?.expiration) return;
    const left = Date.parse(token.expiration) - this.now();
    if (left > 0) {
      this.queue.addAfter(key, Math.min(left + 1000, 24 * 3600_000));
      return;
    }
    await this.client
      .delete(`${collectionPath('v1', 'secrets', 'kube-system')}/${secret.metadata?.name ?? ''}`)
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    this.logger.info({ token: token.id }, 'deleted expired bootstrap token');
  }

  private async sign(): Promise<void> {
    const info = this.configMaps.get(SIGNER_KEY);
    if (!info) return;
    const data = { ...((info.data ?? {}) as Record<string, string>) };
    const content = data.kubeconfig;
    if (content === undefined) return;
    const now = this.now();
    const want = new Map<string, string>();
    for (const s of this.secrets.list()) {
      const t = tokenOf(s);
      if (t?.signing && !expired(t, now)) want.set(JWS_PREFIX + t.id, signDetached(content, t.id, t.secret));
    }
    let changed = false;
    for (const k of Object.keys(data))
      if (k.startsWith(JWS_PREFIX) && !want.has(k)) {
        delete data[k];
        changed = true;
      }
    for (const [k, v] of want)
      if (data[k] !== v) {
        data[k] = v;
        changed = true;
      }
    if (!changed) return;
    await this.client.update(`${collectionPath('v1', 'configmaps', 'kube-public')}/${CLUSTER_INFO}`, { ...info, data });
  }
}
