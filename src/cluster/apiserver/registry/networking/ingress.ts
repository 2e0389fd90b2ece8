/**
 * Ingresses and IngressClasses (`networking.k8s.io/v1`), as Kubernetes' `pkg/registry/networking`:
 * the default class put on an Ingress that names none, the validation users meet (path types, absolute
 * paths, a backend per path, host names), and kubectl's columns.
 */
import { DNS1123_LABEL_MESSAGE, isDnsLabel, isDnsSubdomain, type FieldProblem } from '../../../api/validation.js';
import type { KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { findDefault } from '../defaults.js';
import { ageColumn, nameColumn, spec, status } from '../../tables.js';
import { obj, refuse } from '../../validation.js';
import type { RegistryContext, Strategy } from '../strategy.js';

export const DEFAULT_INGRESS_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

const ingressResource = resourceType('networking.k8s.io', 'v1', 'Ingress', 'ingresses', true, {
  shortNames: ['ing'],
  subresources: ['status'],
});
const classResource = resourceType('networking.k8s.io', 'v1', 'IngressClass', 'ingressclasses', false);

type Obj = Record<string, unknown>;
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.map((x) => obj(x) ?? {}) : []);

function backendProblems(field: string, b: Obj | undefined): FieldProblem[] {
  if (!b) return [{ field, message: 'Required value' }];
  const svc = obj(b.service);
  if (!svc && !obj(b.resource))
    return [{ field, message: 'Required value: one backend (service or resource) must be specified' }];
  if (!svc) return [];
  const out: FieldProblem[] = [];
  if (typeof svc.name !== 'string' || !svc.name)
    out.push({ field: `${field}.service.name`, message: 'Required value' });
  const port = obj(svc.port);
  if (!port || (port.number === undefined && port.name === undefined))
    out.push({ field: `${field}.service.port`, message: 'Required value: port name or number is required' });
  else if (
    port.number !== undefined &&
    !(Number.isInteger(port.number) && Number(port.number) >= 1 && Number(port.number) <= 65535)
  )
    out.push({
      field: `${field}.service.port.number`,
      value: port.number,
      message: 'must be between 1 and 65535, inclusive',
    });
  return out;
}

/** An Ingress host: a DNS name, or `*.` and one. */
const isHost = (h: unknown): boolean =>
  typeof h === 'string' && isDnsSubdomain(h.startsWith('*.') ? h.slice(2) : h) && !h.slice(2).includes('*');

export function ingressProblems(o: KObject): FieldProblem[] {
  const s = spec(o);
  const out: FieldProblem[] = [];
  const rules = list(s.rules);
  if (!rules.length && !obj(s.defaultBackend))
    out.push({ field: 'spec', message: 'Required value: either `defaultBackend` or `rules` must be specified' });
  if (s.defaultBackend !== undefined) out.push(...backendProblems('spec.defaultBackend', obj(s.defaultBackend)));
  rules.forEach((r, i) => {
    const f = `spec.rules[${i}]`;
    if (r.host !== undefined && r.host !== '' && !isHost(r.host))
      out.push({
        field: `${f}.host`,
        value: r.host,
        message:
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and may start with '*.'",
      });
    list(obj(r.http)?.paths).forEach((p, j) => {
      const pf = `${f}.http.paths[${j}]`;
      if (p.pathType === undefined)
        out.push({ field: `${pf}.pathType`, message: 'Required value: pathType must be specified' });
      else if (!['Exact', 'Prefix', 'ImplementationSpecific'].includes(String(p.pathType)))
        out.push({
          field: `${pf}.pathType`,
          message: `Unsupported value: ${JSON.stringify(p.pathType)}: supported values: "Exact", "ImplementationSpecific", "Prefix"`,
        });
      if (typeof p.path !== 'string' || !p.path.startsWith('/'))
        out.push({ field: `${pf}.path`, value: p.path, message: 'must be an absolute path' });
      out.push(...backendProblems(`${pf}.backend`, obj(p.backend)));
    });
  });
  list(s.tls).forEach((t, i) => {
    for (const [j, h] of (Array.isArray(t.hosts) ? t.hosts : []).entries())
      if (!isHost(h)) out.push({ field: `spec.tls[${i}].hosts[${j}]`, value: h, message: 'must be a DNS name' });
  });
  return out;
}

/** The IngressClass marked default. */
async function defaultClassName(ctx: RegistryContext): Promise<string | undefined> {
  const classes = await findDefault(
    ctx,
    'ingressclasses',
    (c) => c.metadata?.annotations?.[DEFAULT_INGRESS_CLASS_ANNOTATION] === 'true',
  );
  return classes[0]?.metadata?.name;
}

const hostsOf = (o: KObject): string => {
  const hosts = list(spec(o).rules).map((r) => (typeof r.host === 'string' && r.host ? r.host : '*'));
  return hosts.length ? hosts.join(',') : '*';
};

export const ingresses: Strategy = {
  resource: ingressResource,
  generation: true,
  async prepareCreate(o, ctx) {
    const s = (o.spec ??= {}) as Obj;
    if (!s.ingressClassName && !o.metadata?.annotations?.['kubernetes.io/ingress.class']) {
      const name = await defaultClassName(ctx);
      if (name) s.ingressClassName = name;
    }
  },
  validate(o) {
    refuse(ingressResource, o, ingressProblems(o));
  },
  columns: [
    nameColumn,
    { name: 'Class', type: 'string', cell: (o) => spec(o).ingressClassName ?? '<none>' },
    { name: 'Hosts', type: 'string', cell: hostsOf },
    {
      name: 'Address',
      type: 'string',
      cell: (o) =>
        list(obj(status(o).loadBalancer)?.ingress)
          .map((i) => i.ip ?? i.hostname)
          .join(','),
    },
    { name: 'Ports', type: 'string', cell: (o) => (list(spec(o).tls).length ? '80, 443' : '80') },
    ageColumn,
  ],
};

/** Kubernetes' `IsDomainPrefixedPath`: `acme.io/foo`, a DNS subdomain, a slash and an HTTP path. */
function domainPrefixedPathProblems(field: string, v: unknown): FieldProblem[] {
  if (typeof v !== 'string' || !v) return [{ field, message: 'Required value' }];
  if (v.length > 250) return [{ field, message: `Too long: may not be more than 250 bytes` }];
  const slash = v.indexOf('/');
  if (slash <= 0 || slash === v.length - 1)
    return [{ field, value: v, message: 'must be a domain-prefixed path (such as "acme.io/foo")' }];
  const [host, path] = [v.slice(0, slash), v.slice(slash + 1)];
  const out: FieldProblem[] = [];
  if (!isDnsSubdomain(host))
    out.push({
      field,
      value: host,
      message: `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    });
  if (!/^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/.test(path))
    out.push({
      field,
      value: path,
      message: `Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')`,
    });
  return out;
}

/** Kubernetes' `validateIngressClassParametersReference`. */
function parametersProblems(p: Obj | undefined): FieldProblem[] {
  if (!p) return [];
  const at = 'spec.parameters';
  const out: FieldProblem[] = [];
  if (p.apiGroup !== undefined && !isDnsSubdomain(p.apiGroup))
    out.push({ field: `${at}.apiGroup`, value: p.apiGroup, message: 'must be a valid DNS subdomain' });
  for (const f of ['kind', 'name'])
    if (typeof p[f] !== 'string' || !p[f]) out.push({ field: `${at}.${f}`, message: 'Required value' });
    else if (p[f] === '.' || p[f] === '..' || /[/%]/.test(String(p[f])))
      out.push({ field: `${at}.${f}`, value: p[f], message: `may not contain '/' or '%' and may not be '.' or '..'` });
  if (p.scope !== 'Cluster' && p.scope !== 'Namespace')
    out.push({
      field: `${at}.scope`,
      message: `Unsupported value: ${JSON.stringify(p.scope)}: supported values: "Cluster", "Namespace"`,
    });
  if (p.scope === 'Namespace') {
    if (p.namespace === undefined)
      out.push({ field: `${at}.namespace`, message: "Required value: `parameters.scope` is set to 'Namespace'" });
    else if (!isDnsLabel(p.namespace))
      out.push({ field: `${at}.namespace`, value: p.namespace, message: DNS1123_LABEL_MESSAGE });
  }
  if (p.scope === 'Cluster' && p.namespace !== undefined)
    out.push({ field: `${at}.namespace`, message: "Forbidden: `parameters.scope` is set to 'Cluster'" });
  return out;
}

/** Kubernetes' `ValidateIngressClass`: the controller, a domain-prefixed path, and the parameters reference. */
export function ingressClassProblems(o: KObject): FieldProblem[] {
  return [
    ...domainPrefixedPathProblems('spec.controller', spec(o).controller),
    ...parametersProblems(obj(spec(o).parameters)),
  ];
}

/** kubectl's PARAMETERS: `Kind.group/name`. */
function parametersText(o: KObject): string {
  const p = obj(spec(o).parameters);
  if (!p) return '<none>';
  return `${String(p.kind)}${p.apiGroup !== undefined ? `.${String(p.apiGroup)}` : ''}/${String(p.name)}`;
}

export const ingressClasses: Strategy = {
  resource: classResource,
  defaults(o) {
    const p = obj(spec(o).parameters);
    if (p) p.scope ??= 'Cluster';
  },
  validate: (o) => refuse(classResource, o, ingressClassProblems(o)),
  validateUpdate(cur, next) {
    if (spec(cur).controller !== spec(next).controller)
      refuse(classResource, next, [
        { field: 'spec.controller', value: spec(next).controller ?? null, message: 'field is immutable' },
      ]);
  },
  columns: [
    nameColumn,
    { name: 'Controller', type: 'string', cell: (o) => spec(o).controller ?? '' },
    { name: 'Parameters', type: 'string', cell: parametersText },
    ageColumn,
  ],
};
