/**
 * The certificates controller: Kubernetes' csrapproving and csrsigning controllers in one. For the
 * nodes' signers it approves what Kubernetes approves automatically — a node client certificate asked
 * for with a bootstrap token (`certificatesigningrequests/nodeclient`) or by the node itself for
 * renewal (`selfnodeclient`) — and, as k3s does, a node's serving certificate asked for by that node.
 * Then it signs approved requests with the cluster CA, issuing only the subject, usage and names its
 * signer allows; a request that does not fit is marked Failed.
 */
import net from 'node:net';
import type { Logger } from '../../common/log.js';
import { isDnsSubdomain } from '../api/validation.js';
import { nowRfc3339, type KObject } from '../api/object.js';
import { csrPem } from '../api/csr.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import { keyOf, type Informer } from '../client/informer.js';
import { inspectCsr, signCsr, type CsrContents } from '../pki/csr.js';
import { WorkQueue } from './controller.js';

export const CLIENT_KUBELET_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';

type Condition = { type: string; status: string; reason?: string; message?: string; lastUpdateTime?: string };
type Spec = {
  signerName?: string;
  usages?: string[];
  username?: string;
  uid?: string;
  groups?: string[];
  expirationSeconds?: number;
};

const NODE_SUBJECT = /^CN=system:node:([^,]+),O=system:nodes$/;
const MAX_DAYS = 365;

/** What a request for a node signer must be; answers the node's name and SANs, or why it does not fit. */
export function nodeRequestShape(
  signer: string,
  usages: string[],
  csr: CsrContents,
): { node: string; dns: string[]; ips: string[] } | { problem: string } {
  const m = NODE_SUBJECT.exec(csr.subject);
  if (!m || !isDnsSubdomain(m[1]))
    return { problem: `subject must be CN=system:node:<node name>,O=system:nodes, not ${csr.subject}` };
  const node = m[1];
  const allowed =
    signer === CLIENT_KUBELET_SIGNER
      ? ['client auth', 'digital signature', 'key encipherment']
      : ['server auth', 'digital signature', 'key encipherment'];
  const needed = signer === CLIENT_KUBELET_SIGNER ? 'client auth' : 'server auth';
  if (!usages.includes(needed) || usages.some((u) => !allowed.includes(u)))
    return { problem: `usages must include "${needed}" and only ${allowed.map((u) => `"${u}"`).join(', ')}` };
  if (csr.otherSans.length) return { problem: 'only DNS and IP subject alternative names are allowed' };
  if (signer === CLIENT_KUBELET_SIGNER) {
    if (csr.dns.length || csr.ips.length) return { problem: 'a client certificate has no subject alternative names' };
    return { node, dns: [], ips: [] };
  }
  if (!csr.dns.every(isDnsSubdomain) || !csr.ips.every((ip) => net.isIP(ip) !== 0))
    return { problem: 'subject alternative names must be DNS names and IP addresses' };
  if (!csr.dns.length && !csr.ips.length) return { problem: 'a serving certificate needs a DNS name or an IP address' };
  return { node, dns: csr.dns, ips: csr.ips };
}

export class CertificateController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly csrs: Informer,
    private readonly logger: Logger,
    private readonly ca: { certFile: string; keyFile: string },
  ) {
    csrs.on({ add: (c) => this.queue.add(keyOf(c)), update: (_o, c) => this.queue.add(keyOf(c)) });
  }

  run(): Promise<void> {
    return this.queue.run('certificates', (key) => this.sync(key), this.logger);
  }

  async sync(key: string): Promise<void> {
    const csr = this.csrs.get(key);
    if (!csr) return;
    const spec = (csr.spec ?? {}) as Spec;
    const status = (csr.status ?? {}) as { conditions?: Condition[]; certificate?: string };
    const has = (type: string): boolean =>
      (status.conditions ?? []).some((c) => c.type === type && c.status === 'True');
    if (status.certificate || has('Denied') || has('Failed')) return;
    if (spec.signerName !== CLIENT_KUBELET_SIGNER && spec.signerName !== KUBELET_SERVING_SIGNER) return;
    let contents: CsrContents;
    try {
      contents = await inspectCsr(csrPem(csr));
    } catch (err) {
      return this.setCondition(csr, 'status', {
        type: 'Failed',
        status: 'True',
        reason: 'InvalidRequest',
        message: (err as Error).message,
      });
    }
    const shape = nodeRequestShape(spec.signerName, spec.usages ?? [], contents);
    if (!has('Approved')) {
      if ('problem' in shape) return; // Not one to approve automatically; an administrator may still.
      if (await this.autoApprovable(spec, shape.node)) {
        await this.setCondition(csr, 'approval', {
          type: 'Approved',
          status: 'True',
          reason: 'AutoApproved',
          message: `Auto approving ${spec.signerName === CLIENT_KUBELET_SIGNER ? 'kubelet client' : 'kubelet serving'} certificate after SubjectAccessReview.`,
        });
      }
      return;
    }
    if ('problem' in shape)
      return this.setCondition(csr, 'status', {
        type: 'Failed',
        status: 'True',
        reason: 'SignerValidationFailure',
        message: shape.problem,
      });
    const days = Math.max(1, Math.min(MAX_DAYS, Math.ceil((spec.expirationSeconds ?? MAX_DAYS * 86400) / 86400)));
    const certificate = await signCsr(csrPem(csr), this.ca, {
      organizations: ['system:nodes'],
      commonName: `system:node:${shape.node}`,
      usage: spec.signerName === CLIENT_KUBELET_SIGNER ? 'client' : 'server',
      dns: shape.dns,
      ips: shape.ips,
      days,
    });
    await this.client.request(
      'PUT',
      `${collectionPath('certificates.k8s.io/v1', 'certificatesigningrequests')}/${csr.metadata!.name}/status`,
      { ...csr, status: { ...status, certificate: Buffer.from(certificate).toString('base64') } },
    );
    this.logger.info({ csr: csr.metadata?.name, node: shape.node, signer: spec.signerName }, 'certificate issued');
  }

  /**
   * Kubernetes' rules: a node client certificate for whoever may create `certificatesigningrequests/
   * nodeclient` (bootstrap tokens) or, renewing its own, `selfnodeclient`; a serving certificate only
   * for the node it names.
   */
  private async autoApprovable(spec: Spec, node: string): Promise<boolean> {
    const self = spec.username === `system:node:${node}` && (spec.groups ?? []).includes('system:nodes');
    if (spec.signerName === KUBELET_SERVING_SIGNER) return self;
    const review = await this.client.request<KObject>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: spec.username,
        uid: spec.uid,
        groups: spec.groups,
        resourceAttributes: {
          group: 'certificates.k8s.io',
          resource: 'certificatesigningrequests',
          subresource: self ? 'selfnodeclient' : 'nodeclient',
          verb: 'create',
        },
      },
    });
    return (review.status as { allowed?: boolean } | undefined)?.allowed === true;
  }

  private async setCondition(csr: KObject, subresource: 'approval' | 'status', condition: Condition): Promise<void> {
    const conditions = [
      ...(((csr.status as { conditions?: Condition[] } | undefined)?.conditions ?? []) as Condition[]),
      { ...condition, lastUpdateTime: nowRfc3339() },
    ];
    await this.client.request(
      'PUT',
      `${collectionPath('certificates.k8s.io/v1', 'certificatesigningrequests')}/${csr.metadata!.name}/${subresource}`,
      { ...csr, status: { ...(csr.status ?? {}), conditions } },
    );
  }
}
