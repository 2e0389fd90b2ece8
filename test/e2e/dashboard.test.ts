/**
 * The dashboard in Debian's Chromium (driven by playwright-core) against a one-node cluster with real
 * containers: logging in (a wrong token refused with the reason, a token, `gantry dashboard`'s one-time
 * link), opening a Deployment and scaling it, lists following the cluster live, a pod's log followed, a
 * command run in the exec terminal, a pod's port forwarded from its Ports tab, YAML edited and applied (and a stale edit refused), RBAC's
 * Forbidden shown as the API words it, a session ended when its ServiceAccount goes, and every main
 * page at 1280×800 and at phone width with no console errors and every control labelled.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  CHROMIUM_ARGS,
  Cleanup,
  GANTRY,
  hasKubectl,
  kubectlFor,
  run,
  startOneNodeCluster,
  tempDir,
  waitFor,
  type ClusterServer,
} from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';

/**
 * Open a page, again when Chromium aborts the navigation because the host's network changed: it
 * watches every interface, and the cluster's pods come and go with veths of their own. The abort shows
 * as ERR_NETWORK_CHANGED, or as the navigation being replaced by Chromium's error page.
 */
async function goto(page: Page, url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(url);
      return;
    } catch (err) {
      if (attempt >= 5 || !/ERR_NETWORK_CHANGED|chrome-error:\/\//.test((err as Error).message)) throw err;
    }
  }
}

/** Whether something listens on 127.0.0.1:port. */
const tcpOpens = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
const NODE = 'dash-1';

describe(
  'dashboard',
  { skip: (!hasKubectl || !existsSync(CHROMIUM)) && 'kubectl or chromium is not installed' },
  () => {
    const cleanup = new Cleanup();
    let server: ClusterServer;
    let browser: Browser;
    let shots: string;
    const consoleErrors: string[] = [];
    const { ok } = kubectlFor(() => server.env);

    /** A fresh browser context (no session), at a desktop size unless told. */
    async function newPage(viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; page: Page }> {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
      cleanup.add(() => context.close());
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
      return { context, page };
    }

    async function loginWithToken(page: Page, token: string): Promise<void> {
      await goto(page, `${server.url}/dashboard/`);
      await page.getByLabel('Bearer token').fill(token);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
    }

    /** Every form control has an accessible name (a label or aria-label). */
    async function assertLabelled(page: Page): Promise<void> {
      // Run in the page (a string: this file is compiled without the DOM's types).
      const unlabelled = (await page.evaluate(`[...document.querySelectorAll('input, select, textarea, button')]
        .filter((e) => e.type !== 'hidden' && !e.closest('.xterm'))
        .filter((e) => !(e.labels?.length || e.getAttribute('aria-label') || (e.tagName === 'BUTTON' && e.textContent.trim())))
        .map((e) => e.outerHTML.slice(0, 80))`)) as string[];
      assert.deepEqual(unlabelled, [], 'controls without a label');
    }

    before(async () => {
      ({ server } = await startOneNodeCluster(cleanup, NODE));
      shots = tempDir(cleanup, 'gantry-dashboard-shots-');
      ok(
        ['apply', '-f', '-'],
        `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        command: [sh, -c, 'echo hello-from-web; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done']
`,
      );
      ok(['rollout', 'status', 'deploy/web', '--timeout=90s']);
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
      });
      cleanup.add(() => browser.close());
    });
    after(() => cleanup.run());

    test('a wrong token is refused at login with the reason', async () => {
      const { page } = await newPage();
      await goto(page, `${server.url}/dashboard/`);
      await page.getByLabel('Bearer token').fill('not-a-token');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').filter({ hasText: 'the token is not valid for this cluster' }).waitFor();
      await assertLabelled(page);
      await page.screenshot({ path: path.join(shots, 'login.png') });
    });

    test('gantry dashboard --url: its one-time link logs in once, and is refused the second time', async () => {
      const r = run(GANTRY, ['dashboard', '--url', '--kubeconfig', server.env.KUBECONFIG!]);
      assert.equal(r.code, 0, r.stderr);
      const url = r.stdout.trim();
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/dashboard\/login\?code=[\w-]{20,}$/);
      const first = await newPage();
      await goto(first.page, url);
      await first.page.getByRole('heading', { name: 'Overview' }).waitFor();
      assert.match(await first.page.locator('.top .user').innerText(), /^admin$|kubernetes-admin/);
      const second = await newPage();
      await goto(second.page, url);
      await second.page.getByRole('alert').filter({ hasText: 'already used or has expired' }).waitFor();
    });

    test('open the Deployment, scale it to 2; the pod list follows live', async () => {
      const { page } = await newPage();
      await loginWithToken(page, server.token);
      await page.getByRole('navigation', { name: 'Resources' }).getByRole('link', { name: 'Deployments' }).click();
      await page.getByRole('link', { name: 'web', exact: true }).click();
      await page.getByRole('heading', { name: 'Deployment web' }).waitFor();
      await page.getByRole('spinbutton', { name: 'Replicas' }).fill('2');
      await page.getByRole('button', { name: 'Scale' }).click();
      await page.getByRole('status').filter({ hasText: 'Scaled to 2' }).waitFor();
      assert.equal(ok(['get', 'deploy/web', '-o', 'jsonpath={.spec.replicas}']), '2');
      await page.getByRole('tab', { name: 'Overview' }).click();
      await page.getByRole('heading', { name: 'Owned ReplicaSets' }).waitFor();
      await page.getByRole('navigation', { name: 'Resources' }).getByRole('link', { name: 'Pods' }).click();
      // Two web pods appear without a reload: the list is watched.
      await waitFor(
        async () => (await page.getByRole('link', { name: /^web-/ }).count()) === 2,
        'two web pods listed',
        60_000,
      );
      await page.screenshot({ path: path.join(shots, 'pods.png') });
    });

    test("follow a pod's log and run a command in the exec terminal", async () => {
      const { page } = await newPage();
      await loginWithToken(page, server.token);
      const pod = ok(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}']);
      await goto(page, `${server.url}/dashboard/pods/default/${pod}`);
      await page.getByRole('tab', { name: 'Logs' }).click();
      const log = page.getByLabel('Log of container web');
      await log.filter({ hasText: 'hello-from-web' }).waitFor();
      const ticks = async (): Promise<number> => ((await log.innerText()).match(/tick-\d+/g) ?? []).length;
      const before = await ticks();
      // Followed: new lines arrive while the page stays open.
      await waitFor(async () => (await ticks()) >= before + 2, 'the log to grow', 20_000);
      await page.screenshot({ path: path.join(shots, 'logs.png') });

      await page.getByRole('tab', { name: 'Terminal' }).click();
      await page.getByRole('button', { name: 'Connect' }).click();
      await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
      await page.locator('.xterm-helper-textarea').focus();
      await page.keyboard.type('echo $((6*7))-answer\n');
      await waitFor(
        async () => (await page.locator('.xterm-rows').innerText()).includes('42-answer'),
        'the answer',
        20_000,
      );
      await page.screenshot({ path: path.join(shots, 'terminal.png') });
    });

    test("forward a pod's port from its Ports tab: the link serves the pod; stopping and logging out close it", async () => {
      ok(
        ['apply', '-f', '-'],
        `apiVersion: v1
kind: Pod
metadata: {name: srv}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: srv
    image: busybox
    command: [sh, -c, 'mkdir -p /www && echo served-by-srv > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080, name: http}]
`,
      );
      ok(['wait', '--for=condition=Ready', 'pod/srv', '--timeout=90s']);
      const { context, page } = await newPage();
      await loginWithToken(page, server.token);
      await goto(page, `${server.url}/dashboard/pods/default/srv`);
      await page.getByRole('tab', { name: 'Ports' }).click();
      await page.getByRole('button', { name: 'Forward 8080' }).click();
      const link = page.getByRole('link', { name: /^http:\/\/localhost:\d+\/$/ });
      await link.waitFor();
      // Another host than the dashboard's (127.0.0.1): the session's cookie never reaches the pod.
      const url = await link.innerText();
      const port = Number(new URL(url).port);
      const served = await context.newPage();
      await goto(served, url);
      assert.match(await served.locator('body').innerText(), /served-by-srv/);
      await page.screenshot({ path: path.join(shots, 'ports.png') });

      await page.getByRole('button', { name: 'Stop forwarding 8080' }).click();
      await page.getByText('Nothing forwarded from this pod.').waitFor();
      assert.equal(await tcpOpens(port), false, 'a stopped forward still listens');

      await page.getByRole('button', { name: 'Forward 8080' }).click();
      const again = Number(new URL(await link.innerText()).port);
      assert.equal(await tcpOpens(again), true);
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByLabel('Bearer token').waitFor();
      await waitFor(async () => !(await tcpOpens(again)), 'the forward to close with the session', 10_000);
      ok(['delete', 'pod', 'srv', '--wait=false']);
    });

    test('edit YAML and apply it; a stale edit is refused with the conflict', async () => {
      const { page } = await newPage();
      await loginWithToken(page, server.token);
      await goto(page, `${server.url}/dashboard/deployments/default/web`);
      await page.getByRole('tab', { name: 'YAML' }).click();
      const editor = page.getByLabel('YAML of Deployment web');
      const text = await editor.inputValue();
      await editor.fill(text.replace('app: web\n', 'app: web\n    tier: frontend\n'));
      await page.getByRole('button', { name: 'Apply' }).click();
      const applyStatus = page.locator('.yaml .actions [role=status]');
      await waitFor(async () => /Applied/.test(await applyStatus.innerText()), 'the apply').catch(
        async (err: Error) => {
          throw new Error(`${err.message}: ${await applyStatus.innerText()}`);
        },
      );
      assert.equal(ok(['get', 'deploy/web', '-o', 'jsonpath={.metadata.labels.tier}']), 'frontend');

      // Someone else changes it while this edit is open: applying the old version is a conflict.
      const stale = await editor.inputValue();
      ok(['label', 'deploy/web', 'other=change']);
      await page.getByRole('status').filter({ hasText: 'changed on the server' }).waitFor();
      await editor.fill(stale.replace('tier: frontend', 'tier: backend'));
      await page.getByRole('button', { name: 'Apply' }).click();
      await page.getByRole('status').filter({ hasText: 'the object has been modified' }).waitFor();
      assert.equal(ok(['get', 'deploy/web', '-o', 'jsonpath={.metadata.labels.tier}']), 'frontend');
      await page.screenshot({ path: path.join(shots, 'yaml.png') });
    });

    test("RBAC decides: a viewer's scale shows the API's Forbidden; deleting its ServiceAccount ends the session", async () => {
      ok(['create', 'serviceaccount', 'viewer']);
      ok(['create', 'clusterrolebinding', 'viewer-view', '--clusterrole=view', '--serviceaccount=default:viewer']);
      const token = ok(['create', 'token', 'viewer']).trim();
      const { page } = await newPage();
      await loginWithToken(page, token);
      await goto(page, `${server.url}/dashboard/deployments/default/web`);
      await page.getByRole('spinbutton', { name: 'Replicas' }).fill('5');
      await page.getByRole('button', { name: 'Scale' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: 'User "system:serviceaccount:default:viewer" cannot patch resource "deployments/scale"' })
        .waitFor();
      assert.equal(ok(['get', 'deploy/web', '-o', 'jsonpath={.spec.replicas}']), '2');
      const pod = ok(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}']);
      await goto(page, `${server.url}/dashboard/pods/default/${pod}`);
      await page.getByRole('tab', { name: 'Ports' }).click();
      await page.getByLabel('Another port').fill('80');
      await page.getByRole('button', { name: 'Forward', exact: true }).click();
      await page.getByRole('alert').filter({ hasText: 'cannot create resource "pods/portforward"' }).waitFor();

      ok(['delete', 'serviceaccount', 'viewer']);
      await page.getByRole('navigation', { name: 'Resources' }).getByRole('link', { name: 'Services' }).click();
      await page.getByRole('alert').filter({ hasText: 'the token is not valid for this cluster' }).waitFor();
      await page.getByLabel('Bearer token').waitFor();
    });

    test('every main page at 1280×800 and at phone width: no console errors, no sideways scroll, controls labelled', async () => {
      const pod = ok(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}']);
      const pages: Array<[string, string, string]> = [
        ['overview', '/dashboard/', 'Overview'],
        ['deployments', '/dashboard/deployments', 'Deployments'],
        ['deployment', '/dashboard/deployments/default/web', 'Deployment web'],
        ['pod', `/dashboard/pods/default/${pod}`, `Pod ${pod}`],
        ['nodes', '/dashboard/nodes', 'Nodes'],
        ['node', `/dashboard/nodes/${NODE}`, `Node ${NODE}`],
        ['engine', '/dashboard/engine', "Containers and images of each node's engine"],
        ['events', '/dashboard/events', 'Events'],
      ];
      for (const [size, viewport] of [
        ['desktop', { width: 1280, height: 800 }],
        ['phone', { width: 390, height: 844 }],
      ] as const) {
        const { page } = await newPage(viewport);
        await loginWithToken(page, server.token);
        for (const [name, url, heading] of pages) {
          await goto(page, server.url + url);
          await page.getByRole('heading', { name: heading, exact: true }).waitFor();
          await waitFor(async () => (await page.locator('.loading').count()) === 0, `${name} loaded`);
          await assertLabelled(page);
          const sideways = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
          assert.ok(sideways <= 1, `${name} at ${size} scrolls sideways by ${sideways}px`);
          await page.screenshot({ path: path.join(shots, `${name}-${size}.png`), fullPage: true });
        }
      }
      // The engine view lists the node's pod containers.
      const { page } = await newPage();
      await loginWithToken(page, server.token);
      await goto(page, `${server.url}/dashboard/engine`);
      await page
        .getByRole('cell', { name: `default/${pod}` })
        .first()
        .waitFor();
      assert.deepEqual(
        consoleErrors.filter((e) => !/401|403|Failed to load resource/.test(e)),
        [],
      );
    });
  },
);
