/**
 * The web UI end to end in headless Chromium against a real daemon (qemu engine here): log in, create a VM from
 * the tiny image with the wizard, start it, see its boot output in the console, type a command whose output
 * appears, stop it, delete it; a wrong password is refused; a viewer cannot press start; a daemon restart shows
 * the lost-connection banner and the page recovers. Screenshots of every page go to test-output/web/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { apiCall, ensureUiBuilt, launchBrowser, screenshotPath, startWebDaemon, waitForTask, type Browser, type WebDaemon } from './harness.js';

const OPERATOR = { name: 'olga', password: 'operator-pass-1' };
const VIEWER = { name: 'victor', password: 'viewer-pass-1' };
let daemon: WebDaemon;
let browser: Browser;

before(async () => {
  ensureUiBuilt();
  daemon = await startWebDaemon();
  for (const [u, role] of [[OPERATOR, 'operator'], [VIEWER, 'viewer']] as const) {
    const r = await apiCall(daemon, daemon.token, 'POST', '/api/v1/users', { name: u.name, role, password: u.password });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  const build = await apiCall(daemon, daemon.token, 'POST', '/api/v1/images', { name: 'tiny', recipe: 'tiny' });
  assert.equal(build.status, 202, JSON.stringify(build.json));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (daemon) {
    // VMs the test left behind (on failure) are stopped with their daemon's data.
    const vms = await apiCall(daemon, daemon.token, 'GET', '/api/v1/vms').catch(() => null);
    for (const vm of vms?.json?.vms ?? []) await apiCall(daemon, daemon.token, 'DELETE', `/api/v1/vms/${vm.id}?force=true`).catch(() => null);
    await daemon.stop();
    rmSync(daemon.dataDir, { recursive: true, force: true });
  }
});

async function login(page: Page, user: string, password: string): Promise<void> {
  await page.goto(daemon.url + '/');
  await page.fill('input[name=user]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

/** The terminal's visible text (xterm's DOM renderer: one element per row). */
async function consoleText(page: Page): Promise<string> {
  return page.locator('.xterm-rows').innerText();
}

async function waitForConsole(page: Page, needle: RegExp, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = await consoleText(page);
    if (needle.test(text)) return;
    if (Date.now() > end) throw new Error(`console never showed ${needle}; it shows:\n${text}`);
    await page.waitForTimeout(300);
  }
}

test('a wrong password is refused and the login page says so', async () => {
  const page = await browser.context.newPage();
  await login(page, OPERATOR.name, 'not-the-password');
  await page.waitForSelector('[data-testid=login-error]');
  assert.match(await page.locator('[data-testid=login-error]').innerText(), /wrong user name or password/i);
  assert.equal(await page.locator('h1', { hasText: 'Dashboard' }).count(), 0);
  await page.screenshot({ path: screenshotPath('01-login-refused') });
  await page.close();
});

test('operator: create a VM from the tiny image, boot it, use its console, stop and delete it', { timeout: 600_000 }, async () => {
  const page = await browser.context.newPage();
  await login(page, OPERATOR.name, OPERATOR.password);
  await page.waitForSelector('h1:has-text("Dashboard")');
  // Let a few node samples arrive so the charts have lines.
  await page.waitForTimeout(6000);
  await page.screenshot({ path: screenshotPath('02-dashboard') });

  // The image page follows the build (started in before()) live.
  await page.click('nav >> text=Images');
  await page.waitForSelector('[data-image=tiny]');
  await page.screenshot({ path: screenshotPath('03-images-building') });
  const images = await apiCall(daemon, daemon.token, 'GET', '/api/v1/images/tiny');
  if (images.json.taskId) {
    const task = await waitForTask(daemon, daemon.token, images.json.taskId, 300_000);
    assert.equal(task.status, 'succeeded', `tiny image build: ${task.error}`);
  }
  await page.waitForSelector('[data-image=tiny] [data-state=ready]', { timeout: 10_000 });
  await page.screenshot({ path: screenshotPath('04-images-ready') });

  // Wizard: an API validation error lands next to its field.
  await page.keyboard.press('c');
  await page.waitForSelector('h1:has-text("Create a virtual machine")');
  await page.fill('input[name=name]', 'web-vm');
  await page.selectOption('select[name=image]', 'tiny');
  await page.selectOption('select[name=engine]', 'qemu');
  await page.fill('input[name=memoryMiB]', '8');
  await page.click('button:has-text("Create and start")');
  const memError = page.locator('[data-field=memoryMiB] .field-error');
  await memError.waitFor();
  assert.match(await memError.innerText(), /memoryMiB/);
  await page.screenshot({ path: screenshotPath('05-create-field-error') });
  await page.fill('input[name=memoryMiB]', '192');
  await page.fill('input[name=hostname]', 'webhost');
  await page.click('button:has-text("Create and start")');
  await page.waitForURL(/\/vms\/web-vm$/);

  // The console shows the boot, and typing reaches the guest's shell.
  await waitForConsole(page, /typevisor-tiny/, 180_000);
  await page.waitForSelector('.badge[data-state=running]');
  await waitForConsole(page, /typevisor-tiny: ready/, 120_000);
  await page.click('[data-testid=console]');
  await page.keyboard.press('Enter');
  await page.keyboard.type('echo web-$((6*7))-ok\n');
  await waitForConsole(page, /web-42-ok/, 30_000);
  await page.screenshot({ path: screenshotPath('06-vm-console') });

  await page.click('[role=tab]:has-text("Charts")');
  await page.waitForTimeout(6000);
  await page.screenshot({ path: screenshotPath('07-vm-charts') });
  await page.click('[role=tab]:has-text("Hardware")');
  await page.screenshot({ path: screenshotPath('08-vm-hardware-running') });
  await page.click('[role=tab]:has-text("Tasks")');
  await page.waitForSelector('td:has-text("vm.start")');
  await page.screenshot({ path: screenshotPath('09-vm-tasks') });

  await page.click('nav >> text=Virtual machines');
  await page.waitForSelector('tr[data-vm=web-vm] [data-state=running]');
  await page.screenshot({ path: screenshotPath('10-vm-list') });
  await page.click('nav >> text=Storage');
  await page.waitForSelector('h2:has-text("Pool local")');
  await page.waitForSelector('td:has-text("img-tiny")');
  await page.screenshot({ path: screenshotPath('11-storage') });
  await page.click('nav >> text=Networks');
  await page.waitForSelector('h2:has-text("New network")');
  // Networks are node-wide: only admins may create them (POST /networks needs admin), so an operator's button is off.
  assert.equal(await page.locator('button:has-text("Create network")').isDisabled(), true);
  await page.screenshot({ path: screenshotPath('12-networks') });
  await page.keyboard.press('t');
  await page.waitForSelector('.tasks-panel.open li.task');
  await page.screenshot({ path: screenshotPath('13-tasks-panel') });
  await page.keyboard.press('Escape');

  // Stop with confirmation, from the VM list.
  await page.click('nav >> text=Virtual machines');
  await page.click('tr[data-vm=web-vm] button[data-op=stop]');
  await page.waitForSelector('dialog[open]');
  await page.screenshot({ path: screenshotPath('14-confirm-stop') });
  await page.click('dialog[open] button[type=submit]');
  await page.waitForSelector('tr[data-vm=web-vm] [data-state=stopped]', { timeout: 120_000 });

  // Hardware is editable once stopped.
  await page.click('tr[data-vm=web-vm] a:has-text("web-vm")');
  await page.click('[role=tab]:has-text("Hardware")');
  await page.fill('[data-field=vcpus] input', '2');
  await page.click('button:has-text("Save")');
  await page.waitForSelector('.ok-box');
  assert.equal((await apiCall(daemon, daemon.token, 'GET', '/api/v1/vms/web-vm')).json.vcpus, 2);
  await page.screenshot({ path: screenshotPath('15-vm-hardware-stopped') });

  // Disk snapshots while stopped: take one, see it listed.
  await page.click('[role=tab]:has-text("Snapshots")');
  await page.fill('input[aria-label="Snapshot name"]', 'before-change');
  await page.click('button:has-text("Take snapshot")');
  await page.waitForSelector('td:has-text("before-change")', { timeout: 30_000 });
  await page.screenshot({ path: screenshotPath('15b-vm-snapshots') });

  // Delete with confirmation: back to the list, the VM is gone.
  await page.click('button[data-op=delete]');
  await page.click('dialog[open] button[type=submit]');
  await page.waitForURL(/\/vms$/);
  await page.waitForSelector('tr[data-vm=web-vm]', { state: 'detached' });
  assert.equal((await apiCall(daemon, daemon.token, 'GET', '/api/v1/vms/web-vm')).status, 404);
  await page.close();
});

test('admin logs in with the API token; a bad subnet is refused next to its field', { timeout: 60_000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(daemon.url + '/');
  await page.evaluate('localStorage.clear()');
  await page.reload();
  await page.click('[role=tab]:has-text("API token")');
  await page.fill('input[name=token]', daemon.token);
  await page.click('button[type=submit]');
  await page.waitForSelector('h1:has-text("Dashboard")');
  await page.click('nav >> text=Networks');
  await page.fill('[data-field=name] input', 'bad-net');
  await page.fill('[data-field=subnet] input', '10.77.0.0/99');
  await page.click('button:has-text("Create network")');
  const shown = page.locator('[data-field=subnet] .field-error, .error-box');
  await shown.first().waitFor();
  assert.match(await shown.first().innerText(), /subnet|CIDR|prefix/i);
  await page.screenshot({ path: screenshotPath('12b-networks-admin-error') });
  assert.equal((await apiCall(daemon, daemon.token, 'GET', '/api/v1/networks')).json.networks.length, 0);
  await page.click('button:has-text("Log out")');
  await page.waitForSelector('input[name=user]');
  await page.close();
});

test('a viewer sees the VM but cannot press start or create', { timeout: 120_000 }, async () => {
  const created = await apiCall(daemon, daemon.token, 'POST', '/api/v1/vms', { name: 'viewer-sees', engine: 'qemu', memoryMiB: 128, image: 'tiny' });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const page = await browser.context.newPage();
  await page.goto(daemon.url + '/');
  await page.evaluate('localStorage.clear()');
  await login(page, VIEWER.name, VIEWER.password);
  await page.waitForSelector('h1:has-text("Dashboard")');
  await page.click('nav >> text=Virtual machines');
  const start = page.locator('tr[data-vm=viewer-sees] button[data-op=start]');
  await start.waitFor();
  assert.equal(await start.isDisabled(), true, 'start is disabled for a viewer');
  assert.equal(await page.locator('a:has-text("Create VM")').getAttribute('aria-disabled'), 'true');
  await page.screenshot({ path: screenshotPath('16-viewer-vm-list') });
  await page.close();
});

test('a daemon crash and restart shows the lost-connection banner and the page recovers', { timeout: 180_000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(daemon.url + '/vms');
  await page.waitForSelector('tr[data-vm=viewer-sees]');
  const { dataDir, token, url } = daemon;
  await daemon.kill9();
  await page.waitForSelector('[data-testid=connection-banner]', { timeout: 30_000 });
  await page.screenshot({ path: screenshotPath('17-connection-lost') });
  daemon = await startWebDaemon({ dataDir, token, port: Number(new URL(url).port) });
  await page.waitForSelector('[data-testid=connection-banner]', { state: 'detached', timeout: 60_000 });
  await page.waitForSelector('tr[data-vm=viewer-sees]');
  await page.close();
});
