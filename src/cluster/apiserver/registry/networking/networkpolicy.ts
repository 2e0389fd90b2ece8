/**
 * NetworkPolicies (`networking.k8s.io/v1`), as Kubernetes' `pkg/apis/networking/validation`: policy
 * types defaulted (Ingress, and Egress when there are egress rules), peers of one kind each, ipBlock
 * CIDRs with `except` inside them, ports by number or name with `endPort` ranges; kubectl's columns.
 */
import net from 'node:net';
import { isPortName, type FieldProblem } from '../../../api/validation.js';
import type { KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { ageColumn, nameColumn, selectorText, spec } from '../../tables.js';
import { obj, refuse } from '../../validation.js';
import type { Strategy } from '../strategy.js';

const resource = resourceType('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', true, {
  shortNames: ['netpol'],
});

type Obj = Record<string, unknown>;
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.map((x) => obj(x) ?? {}) : []);

/** `10.0.0.0/8` → its address and prefix, or undefined when it is not an IPv4 or IPv6 CIDR. */
export function parseCidrText(cidr: unknown): { ip: string; bits: number; family: 4 | 6 } | undefined {
  if (typeof cidr !== 'string') return undefined;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return undefined;
  const family = net.isIP(m[1]!);
  const bits = Number(m[2]);
  if (!family || bits > (family === 4 ? 32 : 128)) return undefined;
  return { ip: m[1]!, bits, family: family as 4 | 6 };
}

/** Whether CIDR `inner` lies within CIDR `outer` (IPv4). */
function within(inner: string, outer: string): boolean {
  const a = parseCidrText(inner);
  const b = parseCidrText(outer);
  if (!a || !b || a.family !== 4 || b.family !== 4) return a?.family === 6 && b?.family === 6;
  const toInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const mask = (bits: number): number => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
  return a.bits >= b.bits && (toInt(a.ip) & mask(b.bits)) >>> 0 === (toInt(b.ip) & mask(b.bits)) >>> 0;
}

function peerProblems(field: string, peers: Obj[]): FieldProblem[] {
  const out: FieldProblem[] = [];
  peers.forEach((p, i) => {
    const f = `${field}[${i}]`;
    const block = obj(p.ipBlock);
    if (block && (p.podSelector !== undefined || p.namespaceSelector !== undefined))
      out.push({ field: f, message: 'Forbidden: may not specify both ipBlock and another peer' });
    if (!block && p.podSelector === undefined && p.namespaceSelector === undefined)
      out.push({ field: f, message: 'Required value: must specify a peer' });
    if (block) {
      if (!parseCidrText(block.cidr))
        out.push({
          field: `${f}.ipBlock.cidr`,
          value: block.cidr,
          message: 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
        });
      (Array.isArray(block.except) ? block.except : []).forEach((e, j) => {
        if (!parseCidrText(e))
          out.push({
            field: `${f}.ipBlock.except[${j}]`,
            value: e,
            message: 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)',
          });
        else if (parseCidrText(block.cidr) && !within(String(e), String(block.cidr)))
          out.push({ field: `${f}.ipBlock.except[${j}]`, value: e, message: 'must be a strict subset of `cidr`' });
      });
    }
  });
  return out;
}

function portProblems(field: string, ports: Obj[]): FieldProblem[] {
  const out: FieldProblem[] = [];
  ports.forEach((p, i) => {
    const f = `${field}[${i}]`;
    if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(String(p.protocol)))
      out.push({
        field: `${f}.protocol`,
        message: `Unsupported value: ${JSON.stringify(p.protocol)}: supported values: "SCTP", "TCP", "UDP"`,
      });
    const port = p.port;
    if (typeof port === 'number' && !(Number.isInteger(port) && port >= 1 && port <= 65535))
      out.push({ field: `${f}.port`, value: port, message: 'must be between 1 and 65535, inclusive' });
    if (typeof port === 'string' && !isPortName(port))
      out.push({
        field: `${f}.port`,
        value: port,
        message:
          'must contain at least one letter (a-z), and only lowercase alphanumerics and "-", at most 15 characters',
      });
    if (p.endPort !== undefined) {
      if (typeof port !== 'number')
        out.push({
          field: `${f}.endPort`,
          value: p.endPort,
          message: 'may not be specified when `port` is non-numeric',
        });
      else if (!(Number.isInteger(p.endPort) && Number(p.endPort) >= port && Number(p.endPort) <= 65535))
        out.push({ field: `${f}.endPort`, value: p.endPort, message: 'must be greater than or equal to `port`' });
    }
  });
  return out;
}

export function networkPolicyProblems(o: KObject): FieldProblem[] {
  const s = spec(o);
  const out: FieldProblem[] = [];
  for (const [i, t] of (Array.isArray(s.policyTypes) ? s.policyTypes : []).entries())
    if (t !== 'Ingress' && t !== 'Egress')
      out.push({
        field: `spec.policyTypes[${i}]`,
        message: `Unsupported value: ${JSON.stringify(t)}: supported values: "Egress", "Ingress"`,
      });
  list(s.ingress).forEach((r, i) => {
    out.push(
      ...peerProblems(`spec.ingress[${i}].from`, list(r.from)),
      ...portProblems(`spec.ingress[${i}].ports`, list(r.ports)),
    );
  });
  list(s.egress).forEach((r, i) => {
    out.push(
      ...peerProblems(`spec.egress[${i}].to`, list(r.to)),
      ...portProblems(`spec.egress[${i}].ports`, list(r.ports)),
    );
  });
  return out;
}

export const networkPolicies: Strategy = {
  resource,
  generation: true,
  defaults(o) {
    const s = (o.spec ??= {}) as Obj;
    s.podSelector ??= {};
    if (!Array.isArray(s.policyTypes) || !s.policyTypes.length)
      s.policyTypes = list(s.egress).length ? ['Ingress', 'Egress'] : ['Ingress'];
  },
  validate(o) {
    refuse(resource, o, networkPolicyProblems(o));
  },
  columns: [
    nameColumn,
    {
      name: 'Pod-Selector',
      type: 'string',
      cell: (o) => selectorText({ spec: { selector: spec(o).podSelector } }) || '<none>',
    },
    ageColumn,
  ],
};
