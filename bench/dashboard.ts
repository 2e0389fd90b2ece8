/**
 * The dashboard beside kubectl on one API server holding 1,000 pods, medians of N rounds (default 5):
 * - a list: the dashboard's Pods page in Debian's Chromium until all rows are drawn, beside
 *   `kubectl get pods -A` printing them;
 * - a change: a new pod shown by the open Pods page (its row from the Table watch, merged), beside
 *   `kubectl get pods -w` printing it.
 *
 *   node --import tsx bench/dashboard.ts [--rounds 5]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, Cleanup, kubectl, run, startServer } from '../test/e2e/helpers.js';
import { median, row } from './lib.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const PODS = 1000;

const pod = (name: string): object => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: 'bench' } },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
});

const cleanup = new Cleanup();
try {
  const server = await startServer(cleanup);
  const k = (args: string[], input?: string): string => {
    const r = run(kubectl, args, { env: server.env, input, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  k(
    ['create', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: PODS }, (_, i) => pod(`p-${i}`)) }),
  );

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  cleanup.add(() => browser.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${server.url}/dashboard/`);
  await page.getByLabel('Bearer token').fill(server.token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();

  const ca = readFileSync(path.join(server.dir, 'tls', 'ca.crt'));
  const create = (obj: object): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        `${server.url}/api/v1/namespaces/default/pods`,
        {
          method: 'POST',
          ca,
          headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`create: ${res.statusCode}`))));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(obj));
    });

  const listDashboard: number[] = [];
  const listKubectl: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await page.goto(`${server.url}/dashboard/pods`);
    await page
      .locator('main tbody tr')
      .nth(PODS - 1)
      .waitFor({ timeout: 60_000 });
    listDashboard.push(performance.now() - t0);
    const t1 = performance.now();
    const lines = k(['get', 'pods', '-A']).trim().split('\n').length - 1;
    listKubectl.push(performance.now() - t1);
    if (lines < PODS) throw new Error(`kubectl listed ${lines} pods`);
  }
  row(`list ${PODS} pods`, median(listDashboard), 'kubectl get', median(listKubectl));

  const changeDashboard: number[] = [];
  const changeKubectl: number[] = [];
  const watcher = spawn(kubectl, ['get', 'pods', '-w', '-o', 'name', '--watch-only'], {
    env: { ...process.env, ...server.env },
  });
  cleanup.add(() => void watcher.kill());
  let watched = '';
  watcher.stdout.on('data', (d: Buffer) => (watched += d.toString()));
  await new Promise((r) => setTimeout(r, 1000));
  for (let i = 0; i < rounds; i++) {
    const name = `new-${i}`;
    // Seen in the page by a MutationObserver (Playwright's own waiting polls at up to 100 ms steps).
    await page.evaluate(`window.benchShown = new Promise((resolve) => {
      const find = () => document.querySelector('main tbody a[href="/dashboard/pods/default/${name}"]');
      const observer = new MutationObserver(() => find() && (observer.disconnect(), resolve(Date.now())));
      observer.observe(document.body, { childList: true, subtree: true });
    }); true`);
    const t0 = performance.now();
    const start = Date.now();
    const created = create(pod(name));
    const seenByKubectl = (async () => {
      while (!watched.includes(`pod/${name}\n`)) await new Promise((r) => setTimeout(r, 2));
      return performance.now() - t0;
    })();
    changeDashboard.push((await page.evaluate<number>('window.benchShown')) - start);
    changeKubectl.push(await seenByKubectl);
    await created;
  }
  row('a new pod shown', median(changeDashboard), 'kubectl get -w', median(changeKubectl));
} finally {
  await cleanup.run();
}
