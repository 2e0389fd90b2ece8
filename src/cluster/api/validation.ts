/**
 * Kubernetes' field validation for what reaches a node: addresses, ports, names that become iptables
 * rules, file names and mount paths. The API server refuses objects that fail it (with Kubernetes'
 * messages); the agent checks again before it builds a rule or a path, since a stored object may predate
 * a check or come from elsewhere. Each function answers the problems it found, empty when none.
 */
import net from 'node:net';

export interface FieldProblem {
  field: string;
  value?: unknown;
  message: string;
}

const DNS1123_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IANA_SVC_NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const CONFIG_KEY_RE = /^[-._a-zA-Z0-9]+$/;

export const DNS1123_LABEL_MESSAGE = `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`;
const IP_MESSAGE = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';
const PORT_MESSAGE = 'must be between 1 and 65535, inclusive';

export const isDnsLabel = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 63 && DNS1123_LABEL_RE.test(v);
export const isDnsSubdomain = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 253 && DNS1123_SUBDOMAIN_RE.test(v);
export const isIp = (v: unknown): v is string => typeof v === 'string' && net.isIP(v) !== 0;
export const isIpv4 = (v: unknown): v is string => typeof v === 'string' && net.isIPv4(v);
export const isPort = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
export const isProtocol = (v: unknown): boolean => v === undefined || v === 'TCP' || v === 'UDP' || v === 'SCTP';

/** A named port (`http`): 1-15 lowercase alphanumerics and '-', with a letter, as IANA service names. */
export const isPortName = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 15 && IANA_SVC_NAME_RE.test(v) && /[a-z]/.test(v) && !v.includes('--');

/** A path inside a volume (`items[].path`, `subPath`): relative, with no `..` component. */
export function relativePathProblems(field: string, p: unknown): FieldProblem[] {
  if (typeof p !== 'string' || p === '') return [];
  if (p.startsWith('/')) return [{ field, value: p, message: 'must be a relative path' }];
  if (p.split('/').includes('..')) return [{ field, value: p, message: "must not contain '..'" }];
  if (p.includes('\0')) return [{ field, value: p, message: 'must not contain NUL' }];
  return [];
}

/** A ConfigMap or Secret key, which becomes a file name in a volume. */
export function configKeyProblems(field: string, key: string): FieldProblem[] {
  if (key.length > 253 || !CONFIG_KEY_RE.test(key))
    return [
      {
        field,
        value: key,
        message:
          "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
      },
    ];
  if (key === '.' || key === '..') return [{ field, value: key, message: `must not be '${key}'` }];
  return [];
}

/** The address of an Endpoints or EndpointSlice entry. */
export function ipProblems(field: string, ip: unknown): FieldProblem[] {
  return isIp(ip) ? [] : [{ field, value: ip, message: IP_MESSAGE }];
}

export function portProblems(field: string, port: unknown): FieldProblem[] {
  return isPort(port) ? [] : [{ field, value: port, message: PORT_MESSAGE }];
}

export function protocolProblems(field: string, protocol: unknown): FieldProblem[] {
  return isProtocol(protocol)
    ? []
    : [{ field, value: protocol, message: 'Unsupported value: must be "SCTP", "TCP" or "UDP"' }];
}

/** A Service's or container port's target: a port number or a port name. */
export function targetPortProblems(field: string, target: unknown): FieldProblem[] {
  if (target === undefined) return [];
  if (typeof target === 'number') return portProblems(field, target);
  return isPortName(target)
    ? []
    : [
        {
          field,
          value: target,
          message:
            'must contain only lower-case letters, numbers and hyphens, at least one letter, and at most 15 characters (IANA_SVC_NAME)',
        },
      ];
}

export function labelNameProblems(field: string, name: unknown): FieldProblem[] {
  return isDnsLabel(name) ? [] : [{ field, value: name, message: DNS1123_LABEL_MESSAGE }];
}
