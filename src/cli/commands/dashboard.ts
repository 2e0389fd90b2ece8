/**
 * `gantry dashboard`: a one-time login link to the dashboard for the kubeconfig's user, as
 * `minikube dashboard --url` prints one. The link is asked of the API server with the kubeconfig's
 * own credentials (client certificate or token), works once, within five minutes, and the session it
 * opens acts as that user.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import { DEFAULT_DATA_DIR } from './server.js';

interface Kubeconfig {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
  clusters?: Array<{ name: string; cluster: { server: string; 'certificate-authority-data'?: string } }>;
  users?: Array<{
    name: string;
    user: { token?: string; 'client-certificate-data'?: string; 'client-key-data'?: string };
  }>;
}

/** The server, CA and credentials of a kubeconfig's current context. */
function currentContext(file: string): { server: string; options: https.RequestOptions } {
  const cfg = YAML.parse(readFileSync(file, 'utf8')) as Kubeconfig;
  const ctx = cfg.contexts?.find((c) => c.name === cfg['current-context']) ?? cfg.contexts?.[0];
  const cluster = cfg.clusters?.find((c) => c.name === ctx?.context.cluster)?.cluster;
  const user = cfg.users?.find((u) => u.name === ctx?.context.user)?.user;
  if (!ctx || !cluster || !user) throw new Error(`${file} has no complete current context`);
  const b64 = (v: string | undefined): string | undefined => (v ? Buffer.from(v, 'base64').toString() : undefined);
  return {
    server: cluster.server,
    options: {
      ca: b64(cluster['certificate-authority-data']),
      cert: b64(user['client-certificate-data']),
      key: b64(user['client-key-data']),
      headers: user.token ? { Authorization: `Bearer ${user.token}` } : {},
    },
  };
}

function loginLink(server: string, options: https.RequestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL('/dashboard/api/login-links', server),
      { ...options, method: 'POST', timeout: 10_000 },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          try {
            const answer = JSON.parse(body) as { path?: string; message?: string };
            if (res.statusCode === 201 && answer.path) resolve(new URL(answer.path, server).toString());
            else reject(new Error(answer.message ?? `the server answered ${res.statusCode}`));
          } catch {
            reject(new Error(`the server answered ${res.statusCode}: ${body.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${server} did not answer`)));
    req.on('error', reject);
    req.end();
  });
}

export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description("Print (or open) a one-time login link to the cluster's dashboard")
    .option('--url', 'print the URL only, do not try to open a browser')
    .option('--kubeconfig <file>', 'the kubeconfig to log in as (default: $KUBECONFIG, else the server data dir)')
    .option('--data-dir <dir>', 'the server data dir', DEFAULT_DATA_DIR)
    .action(async (o: { url?: boolean; kubeconfig?: string; dataDir: string }) => {
      const file = o.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0] ?? path.join(o.dataDir, 'kubeconfig.yaml');
      const { server, options } = currentContext(file);
      const url = await loginLink(server, options);
      if (o.url || !process.env.DISPLAY) {
        process.stdout.write(`${url}\n`);
        return;
      }
      process.stdout.write(`Opening ${url} in your default browser...\n`);
      spawn('xdg-open', [url], { stdio: 'ignore', detached: true })
        .on('error', () => process.stdout.write(`(no browser could be opened: visit the URL above)\n`))
        .unref();
    });
}
