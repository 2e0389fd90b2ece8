/**
 * The cluster's certificates, made on first start with openssl(1) and kept in the data dir: a CA, the
 * server certificate (for localhost, 127.0.0.1 and the host's addresses), and an admin client
 * certificate (CN=admin, O=system:masters) for the kubeconfig, and the key that signs ServiceAccount tokens. Node can use certificates but has no
 * API to issue them; openssl is on every Debian machine.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface ClusterTls {
  ca: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  /** Signs ServiceAccount tokens. */
  serviceAccountKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The host's IPv4 addresses, for the server certificate's SANs. */
function hostAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => !!a && a.family === 'IPv4')
    .map((a) => a.address);
}

function issue(dir: string, name: string, subject: string, ext: string): void {
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      subject,
    ],
    dir,
  );
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

/**
 * The cluster's certificates under `<dataDir>/tls`, made when missing. The serving certificate names
 * `extraIps` too (the `kubernetes` Service's cluster IP, which in-cluster clients dial, and the
 * advertised address); one made before without them is made again.
 */
export function ensureTls(dataDir: string, extraIps: string[] = []): ClusterTls {
  const dir = path.join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(path.join(dir, 'ca.crt'))) {
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '3650',
        '-subj',
        '/CN=gantry-ca',
      ],
      dir,
    );
  }
  const serverCrt = path.join(dir, 'server.crt');
  const names = (pem: string): string => new X509Certificate(pem).subjectAltName ?? '';
  const lacking = (): boolean =>
    extraIps.some((ip) => !names(readFileSync(serverCrt, 'utf8')).split(', ').includes(`IP Address:${ip}`));
  if (!existsSync(serverCrt) || lacking()) {
    const sans = [
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
      `DNS:${os.hostname()}`,
      ...new Set(['127.0.0.1', ...hostAddresses(), ...extraIps.filter((ip) => isIP(ip))].map((a) => `IP:${a}`)),
    ];
    issue(
      dir,
      'server',
      '/CN=gantry-apiserver',
      `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`,
    );
  }
  if (!existsSync(path.join(dir, 'admin.crt'))) {
    issue(
      dir,
      'admin',
      '/O=system:masters/CN=admin',
      'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
    );
  }
  if (!existsSync(path.join(dir, 'service-account.key'))) {
    openssl(
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'service-account.key'],
      dir,
    );
  }
  const read = (f: string): string => readFileSync(path.join(dir, f), 'utf8');
  return {
    ca: read('ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    adminCert: read('admin.crt'),
    adminKey: read('admin.key'),
    serviceAccountKey: read('service-account.key'),
  };
}
