// The web dashboard of `vendetta serve`, driven in a real headless Chromium (Debian's package,
// through puppeteer-core): sign-in with a token, the fleet overview of a process workspace on the
// infra node n1, a service killed by hand over SSH whose drift and repair appear on its page live
// (no reload), the restart and sync buttons, a `view` token that sees no buttons at all (the
// server refuses its DELETE with 403 anyway), and the delete button with its confirmation.
// With VENDETTA_SCREENSHOTS=1 the screenshots of docs/server.md are rewritten (a normal run
// writes them to a temp dir, so the tree stays clean).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, requireBuiltCli, runCli, startServe, tempHome, type ServeProcess } from './support/cli.js';
import { infraNode, loadInfra, makeTempHome, type Infra, type TempHome } from './helpers/infra.js';
import { nodeYaml } from './helpers/remote.js';

const execFileP = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env.VENDETTA_SCREENSHOTS === '1' ? join(REPO, 'docs') : mkdtempSync(join(tmpdir(), 'vendetta-shots-'));
const shot = (file: string) => join(SHOTS, file);
const WS = 'dash-proc';
const SVC = 'dash-loop';
const SVC_ID = `service/${SVC}`;
/** The service's supervisor files on n1 (process provider: ~/.vendetta/workspaces of the login user). */
const SVC_DIR = `.vendetta/workspaces/${WS}/state/services/${SVC}`;

function manifests(infra: Infra): string {
  return `${nodeYaml(infra, 'n1')}---
apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: ${WS}}
spec: {node: n1, provider: process}
---
apiVersion: vendetta.dev/v1alpha1
kind: Service
metadata: {name: ${SVC}}
spec: {workspace: ${WS}, command: exec sleep 600}
`;
}

describe('vendetta serve: the web dashboard in headless Chromium (process workspace on n1)', () => {
  let infra: Infra;
  let serverHome: TempHome;
  const clientHome = tempHome('vendetta-dash-client-');
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-dash-m-'));
  let server: ServeProcess;
  let browser: Browser;
  let page: Page;
  const tokens: Record<string, string> = {};

  const tokenCli = (...args: string[]) => runCli(['serve', 'token', ...args], { home: serverHome.dir, env: serverHome.env });
  /** A shell command on n1 as the test user, over SSH (from outside vendetta). */
  const onNode = async (script: string) => {
    const n = infraNode(infra, 'n1');
    const { stdout } = await execFileP('ssh', [
      '-i', infra.clientKey, '-p', String(n.port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${serverHome.knownHostsPath}`, `${infra.user}@${n.address}`, script,
    ]);
    return stdout.trim();
  };
  const servicePid = async () => Number(await onNode(`cat ${SVC_DIR}/pid`));

  async function signIn(token: string, role: string): Promise<void> {
    await page.waitForSelector('#token', { visible: true });
    await page.type('#token', token);
    await page.click('#signin');
    await page.waitForSelector(`#whoami[data-role="${role}"]`, { timeout: 15_000 });
  }
  const text = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');
  /** Clicks an action button and returns what the page says once the action is over. */
  const act = async (button: string, timeout: number) => {
    await page.locator(button).click();
    await page.waitForFunction(() => !/…$/.test(document.querySelector('#action-status')?.textContent ?? '…'), { timeout });
    return text('#action-status');
  };

  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    // Fails (never skips) without the browser: test/infra/up.sh installs it.
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium; test/infra/up.sh does it)`);
    serverHome = await makeTempHome(infra);
    writeFileSync(join(dir, 'set.yaml'), manifests(infra));
    const ed = await tokenCli('create', 'ed', '--role', 'edit');
    expect(ed.code, ed.stderr).toBe(0);
    tokens.ed = ed.stdout.trim();
    // A short resync so the repair of a killed service follows within a second or two.
    server = await startServe(['--listen', '127.0.0.1:0', '--resync', '1s'], { env: serverHome.env });
    const applied = await runCli(['--server', server.url, 'apply', '-f', dir, '--timeout', '120s'], { home: clientHome.home, env: { VENDETTA_TOKEN: tokens.ed }, timeoutMs: 150_000 });
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (server?.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exit;
    }
    await runCli(['delete', '-f', dir, '--timeout', '90s'], { home: serverHome.dir, env: serverHome.env });
    await serverHome.cleanup();
    clientHome.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('serves the page without a token, the API only with one', async () => {
    const res = await fetch(server.url + '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect((await fetch(server.url + '/ui/app.js')).headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(server.url + '/ui/../server.token')).status).toBe(404);
    expect((await fetch(server.url + '/api/v1/whoami')).status).toBe(401);
  });

  it("refuses a wrong token with the server's message, then signs in with an edit token and shows the fleet", async () => {
    await page.goto(server.url, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#token', { visible: true });
    await page.type('#token', 'not-a-token');
    await page.click('#signin');
    await page.waitForFunction(() => /missing or unknown bearer token/.test(document.querySelector('#login-error')?.textContent ?? ''), { timeout: 15_000 });
    await signIn(tokens.ed!, 'edit');
    expect(await text('#whoami')).toBe('ed (edit)');
    // The token is in this tab's sessionStorage, never in the URL.
    expect(await page.evaluate(() => sessionStorage.getItem('vendetta.token'))).toBe(tokens.ed);
    expect(page.url()).not.toContain(tokens.ed!);
    await page.waitForSelector(`#services tr[data-id="${SVC_ID}"] .phase[data-phase="Ready"]`, { timeout: 30_000 });
    await page.waitForSelector(`#workspaces tr[data-id="workspace/${WS}"] .phase[data-phase="Ready"]`);
    await page.waitForSelector('#nodes tr[data-id="node/n1"] .phase[data-phase="Ready"]');
    await page.waitForSelector('#live.on');
    // The latency of n1's last observation arrives with the live stream's first pass.
    await page.waitForFunction(() => /^\d+ ms$/.test(document.querySelector('#nodes tr[data-id="node/n1"] .latency')?.textContent ?? ''), { timeout: 15_000 });
    expect(await text(`#services tr[data-id="${SVC_ID}"] td:nth-child(5)`)).toBe(String(await servicePid()));
    await page.screenshot({ path: shot('dashboard-fleet.png') });
  }, 60_000);

  it('a service killed by hand shows its drift and its repair on its page, live', async () => {
    await page.click(`#services tr[data-id="${SVC_ID}"] td:first-child a`);
    await page.waitForSelector('#app[data-view="resource"] h1 .phase[data-phase="Ready"]');
    // Its plan, as the server would run it now: nothing to do.
    await page.waitForSelector('#plan[data-empty="true"]', { timeout: 30_000 });
    for (const button of ['#action-sync', '#action-restart', '#action-delete']) expect(await page.$(button), button).not.toBeNull();
    expect(await text('#desired')).toContain('exec sleep 600');
    // A marker that a reload would lose: what follows must arrive over the open stream.
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'no reload'));

    // The service and its supervisor killed behind vendetta's back, over SSH on the node.
    const oldPid = await servicePid();
    await onNode(`kill -9 $(cat ${SVC_DIR}/supervisor.pid) ${oldPid}`);
    const drift = await page.waitForSelector(`#events li[data-reason="DriftDetected"][data-object="${SVC_ID}"]`, { timeout: 60_000 });
    const driftAt = await drift!.evaluate((el) => (el as HTMLElement).dataset.time!);
    expect(await drift!.evaluate((el) => el.textContent)).toMatch(/found drift .*repairing: start-service/);
    // The repair: started again after the drift, and Ready.
    await page.waitForFunction(
      (id: string, after: string) =>
        [...document.querySelectorAll<HTMLElement>(`#events li[data-reason="Started"][data-object="${id}"]`)].some((li) => li.dataset.time! >= after),
      { timeout: 60_000 },
      SVC_ID,
      driftAt,
    );
    await page.waitForSelector('#app[data-view="resource"] h1 .phase[data-phase="Ready"]', { timeout: 30_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('no reload');
    const newPid = await servicePid();
    expect(newPid).not.toBe(oldPid);
    expect(await onNode(`kill -0 ${newPid} && echo alive`)).toBe('alive');
    await page.waitForSelector('#plan[data-empty="true"]', { timeout: 30_000 });
    await page.screenshot({ path: shot('dashboard-resource.png'), fullPage: true });
  }, 150_000);

  it('the restart and sync buttons act, recorded with who asked', async () => {
    const before = await servicePid();
    expect(await act('#action-restart', 60_000)).toBe(`restarted ${SVC_ID}`);
    await page.waitForSelector(`#events li[data-reason="Restarted"][data-object="${SVC_ID}"]`, { timeout: 15_000 });
    expect(await text(`#events li[data-reason="Restarted"][data-object="${SVC_ID}"]`)).toContain('(by ed)');
    const after = await servicePid();
    expect(after).not.toBe(before);
    expect(await act('#action-sync', 90_000)).toMatch(/^sync: converged/);
    expect(await servicePid()).toBe(after);
  }, 150_000);

  it('a view token sees the resource but no sync, restart or delete button; the server refuses its DELETE', async () => {
    const made = await tokenCli('create', 'vera', '--role', 'view');
    expect(made.code, made.stderr).toBe(0);
    tokens.vera = made.stdout.trim();
    await page.click('#signout');
    await page.waitForSelector('#login-view', { visible: true });
    expect(await page.evaluate(() => sessionStorage.getItem('vendetta.token'))).toBeNull();
    await signIn(tokens.vera, 'view');
    await page.evaluate((id: string) => (location.hash = `#/r/${id}`), SVC_ID);
    await page.waitForSelector('#app[data-view="resource"] h1 .phase[data-phase="Ready"]', { timeout: 15_000 });
    await page.waitForSelector('#events li');
    for (const button of ['#action-sync', '#action-restart', '#action-delete', '#action-delete-confirm']) expect(await page.$(button), button).toBeNull();
    // Hiding is a convenience; the server enforces the role.
    const status = await page.evaluate(async (id: string) => {
      const res = await fetch(`/api/v1/resources/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${sessionStorage.getItem('vendetta.token')}` } });
      return res.status;
    }, SVC_ID);
    expect(status).toBe(403);
    expect(await servicePid()).toBeGreaterThan(0);
  }, 60_000);

  it('an edit token deletes the service from its page after confirming; it is gone from the node and the fleet', async () => {
    await page.click('#signout');
    await signIn(tokens.ed!, 'edit');
    await page.evaluate((id: string) => (location.hash = `#/r/${id}`), SVC_ID);
    await page.locator('#action-delete').click();
    // One click only asks: nothing is deleted until the confirmation.
    await page.waitForSelector('#action-delete-confirm');
    expect(await servicePid()).toBeGreaterThan(0);
    expect(await act('#action-delete-confirm', 90_000)).toBe(`deleted ${SVC_ID}`);
    expect(await onNode(`test -e ${SVC_DIR} && echo present || echo gone`)).toBe('gone');
    await page.evaluate(() => (location.hash = '#/'));
    await page.waitForSelector(`#workspaces tr[data-id="workspace/${WS}"]`);
    // The fleet renders at once from what it last fetched, then again once its refresh answers:
    // the row must go then (a bounded wait, not a look at the first render).
    await page.waitForSelector(`#services tr[data-id="${SVC_ID}"]`, { hidden: true, timeout: 10_000 });
    expect(await page.$(`#services tr[data-id="${SVC_ID}"]`)).toBeNull();
    await page.waitForSelector(`#events li[data-reason="DeleteRequested"][data-object="${SVC_ID}"]`);
    expect(await text(`#events li[data-reason="DeleteRequested"][data-object="${SVC_ID}"]`)).toContain('delete requested by ed');
  }, 150_000);
});
