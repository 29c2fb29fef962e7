// Browser tests of the dashboard: Debian's chromium, driven by
// playwright-core, against a real `rampart serve` (target/debug/rampart) in
// a temporary RAMPART_HOME, with real commands run under the real library
// (target/release/librampart.so) through `rampart preload`.
//
//   cd tests/browser && npm ci && node dashboard.test.mjs
//
// Screenshots go to target/browser-screenshots/. Environment: RAMPART_BIN,
// RAMPART_LIB, CHROMIUM override the paths; KEEP=1 keeps the temp home.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const RAMPART = process.env.RAMPART_BIN || path.join(root, 'target/debug/rampart');
const LIB = process.env.RAMPART_LIB || path.join(root, 'target/release/librampart.so');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(root, 'target/browser-screenshots');
const STEP_MS = 15000;

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  console.error('playwright-core is missing: run `npm ci` in tests/browser first (.ci/run does)');
  process.exit(2);
}
for (const [what, p, how] of [
  ['rampart', RAMPART, 'cargo build -p rampart'],
  ['the library', LIB, 'cargo build --release -p rampart-preload'],
  ['chromium', CHROMIUM, 'apt-get install chromium'],
]) {
  if (!fs.existsSync(p)) {
    console.error(`${what} is missing at ${p}: run \`${how}\` first`);
    process.exit(2);
  }
}

const POLICY = `version: "1"
default_action: allow
policies:
  - name: test-deny
    priority: 10
    rules:
      - action: deny
        when: { command_matches: ["touch *blocked-marker*"] }
        message: "test policy says no"
  - name: test-ask
    priority: 20
    rules:
      - action: ask
        when: { command_matches: ["touch *ask-marker*"] }
        message: "needs a human"
`;

// A policy with an unknown action: the reload fails, the error names its place.
const BROKEN = `version: "1"
policies:
  - name: broken
    rules:
      - action: block
        when: { command_matches: ["x"] }
`;

// ---- a world: temp home, daemon, preloaded commands ------------------------

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-browser-'));
const home = path.join(dir, 'home');
const rhome = path.join(dir, 'rampart');
const work = path.join(dir, 'work');
for (const d of [home, rhome, work, path.join(rhome, 'policies')]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
fs.writeFileSync(path.join(rhome, 'policies/test.yaml'), POLICY, { mode: 0o600 });
fs.mkdirSync(SHOTS, { recursive: true });
for (const f of fs.readdirSync(SHOTS)) if (f.endsWith('.png')) fs.rmSync(path.join(SHOTS, f));

const env = {
  PATH: process.env.PATH || '/usr/bin:/bin',
  HOME: home,
  RAMPART_HOME: rhome,
  RAMPART_LIB: LIB,
  RAMPART_LOG: 'debug',
  NO_COLOR: '1',
};
const children = new Set();
const logPath = path.join(dir, 'serve.log');
let daemon;
let browser;

function sh(script) {
  const child = spawn(RAMPART, ['preload', '--', 'bash', '-c', script], {
    cwd: work,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  child.done = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, out, at: performance.now() });
    })
  );
  return child;
}

async function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function uds(method, p) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: path.join(rhome, 'rampart.sock'), path: p, method }, (res) => {
      let body = '';
      res.on('data', (b) => (body += b));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// A free port, so that a restarted daemon comes back where the page is.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function stopDaemon() {
  if (!daemon || daemon.exitCode !== null) return;
  const exited = new Promise((r) => daemon.once('exit', r));
  daemon.kill('SIGTERM');
  await within(10000, exited, 'stopping rampart serve');
}

async function startDaemon(port) {
  const log = fs.openSync(logPath, 'a', 0o600);
  daemon = spawn(RAMPART, ['serve', '--port', String(port)], { cwd: work, env, stdio: ['ignore', 'ignore', log] });
  children.add(daemon);
  daemon.on('exit', () => children.delete(daemon));
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (daemon.exitCode !== null) throw new Error('rampart serve exited:\n' + fs.readFileSync(logPath, 'utf8'));
    try {
      const r = await uds('GET', '/v1/status');
      if (r.status === 200) {
        const tcp = JSON.parse(r.body).daemon.tcp;
        const token = fs.readFileSync(path.join(rhome, 'token'), 'utf8').trim();
        return { base: `http://${tcp}`, token };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('rampart serve did not start:\n' + fs.readFileSync(logPath, 'utf8'));
}

// ---- the checks ------------------------------------------------------------

const results = [];
const figures = {};
async function check(name, fn) {
  const t0 = performance.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Math.round(performance.now() - t0)} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}\n     ${String(e.stack || e).split('\n').join('\n     ')}`);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

async function main() {
  const port = await freePort();
  const { base, token } = await startDaemon(port);
  const userData = fs.mkdtempSync(path.join(dir, 'chromium-'));
  browser = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  browser.setDefaultTimeout(STEP_MS);

  const errors = [];
  const urls = [];
  const watch = (page, label) => {
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`${label} console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`${label} page error: ${e.message}`));
    page.on('request', (r) => urls.push(r.url()));
  };
  const page = browser.pages()[0] || (await browser.newPage());
  watch(page, 'main');

  await check('/dashboard redirects to /dashboard/, which is served with strict headers and no token', async () => {
    const res = await page.goto(base + '/dashboard');
    assert.equal(new URL(page.url()).pathname, '/dashboard/');
    assert.equal(res.status(), 200);
    const h = res.headers();
    assert.match(h['content-security-policy'], /default-src 'none'/);
    assert.match(h['content-security-policy'], /script-src 'self'/);
    assert.match(h['content-security-policy'], /connect-src 'self'/);
    assert.match(h['content-security-policy'], /frame-ancestors 'none'/);
    assert.doesNotMatch(h['content-security-policy'], /unsafe-inline/);
    assert.equal(h['referrer-policy'], 'no-referrer');
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.equal(h['x-frame-options'], 'DENY');
    assert.equal(h['cache-control'], 'no-store');
    await page.locator('#token-form').waitFor();
    await shot(page, '01-login');
  });

  await check('the token is asked for once; the page connects to the live stream', async () => {
    await page.fill('#token-input', token);
    await page.click('#token-submit');
    await page.locator('#app').waitFor({ state: 'visible' });
    await page.locator('#conn.live').waitFor();
    assert.equal(await page.textContent('#policy-generation'), '1');
    assert.match(await page.textContent('#mode'), /enforce/);
    // Kept for this tab: a reload reconnects without asking again.
    await page.reload();
    await page.locator('#conn.live').waitFor();
    assert.ok(await page.locator('#login').isHidden());
    await shot(page, '02-connected');
  });

  await check('the page loads and connects with no console errors', async () => {
    assert.deepEqual(errors, []);
  });

  await check('a decision made by a preloaded command appears in the feed within 1 s', async () => {
    const marker = path.join(work, 'blocked-marker-1');
    const r = await within(STEP_MS, sh('touch ./blocked-marker-1; echo "touch exited $?"').done, 'denied command');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /rampart: blocked/, r.out);
    assert.match(r.out, /touch exited [1-9]/, r.out);
    assert.ok(!fs.existsSync(marker), 'the denied touch did not run');
    const row = page.locator('#feed tr[data-decision="deny"]', { hasText: 'blocked-marker-1' });
    await row.waitFor({ timeout: 1000 });
    figures.feed_latency_ms = Math.round(performance.now() - r.at);
    const text = await row.textContent();
    assert.match(text, /test-deny/);
    assert.match(text, /test policy says no/);
    assert.equal(await page.textContent('#total-deny'), '1');
    await page.waitForFunction(() => document.querySelectorAll('#chart rect.bar.deny').length > 0);
    await shot(page, '03-denied-in-feed');
  });

  await check('the approve button releases a waiting preloaded command (it runs)', async () => {
    const marker = path.join(work, 'ask-marker-yes');
    const child = sh('touch ./ask-marker-yes && echo ran');
    const item = page.locator('#pending li.approval', { hasText: 'ask-marker-yes' });
    await item.waitFor();
    assert.equal(await page.textContent('#total-pending'), '1');
    assert.match(await item.textContent(), /needs a human/);
    await shot(page, '04-pending');
    assert.ok(!fs.existsSync(marker), 'it waits for the human');
    await item.locator('button.approve').click();
    const r = await within(STEP_MS, child.done, 'approved command');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /ran/);
    assert.ok(fs.existsSync(marker), 'the approved touch ran');
    await item.waitFor({ state: 'detached' });
    await page.locator('#feed tr', { hasText: 'ask-marker-yes' }).waitFor();
    await shot(page, '05-approved');
  });

  await check('the deny button fails a waiting preloaded command (it does not run)', async () => {
    const marker = path.join(work, 'ask-marker-no');
    const child = sh('touch ./ask-marker-no; echo "touch exited $?"');
    const item = page.locator('#pending li.approval', { hasText: 'ask-marker-no' });
    await item.waitFor();
    await item.locator('button.deny').click();
    const r = await within(STEP_MS, child.done, 'denied approval');
    assert.match(r.out, /touch exited [1-9]/, r.out);
    assert.ok(!fs.existsSync(marker), 'the refused touch did not run');
    await item.waitFor({ state: 'detached' });
    assert.equal(await page.textContent('#total-pending'), '0');
    await shot(page, '06-refused');
  });

  await check('the test box shows the decision, policy and message', async () => {
    await page.fill('#test-input', 'touch /tmp/blocked-marker-9');
    await page.click('#test-form button[type=submit]');
    const out = page.locator('#test-result[data-decision="deny"]');
    await out.waitFor();
    const text = await out.textContent();
    assert.match(text, /test-deny/);
    assert.match(text, /test policy says no/);
    await page.fill('#test-input', 'ls -la');
    await page.click('#test-form button[type=submit]');
    await page.locator('#test-result[data-decision="allow"]').waitFor();
    await page.fill('#test-input', 'touch /tmp/blocked-marker-9');
    await page.click('#test-form button[type=submit]');
    await out.waitFor();
    await shot(page, '07-test-box');
  });

  await check('a policy that does not compile shows its error with file:line:column', async () => {
    const broken = path.join(rhome, 'policies/zz-broken.yaml');
    fs.writeFileSync(broken, BROKEN, { mode: 0o600 });
    const box = page.locator('#policy-error');
    await box.waitFor({ state: 'visible' });
    const text = await page.textContent('#policy-error-text');
    assert.match(text, /zz-broken\.yaml:5:\d+: /, text);
    assert.equal(await page.textContent('#policy-generation'), '1', 'the last good policy stays');
    await shot(page, '08-compile-error');
    fs.rmSync(broken);
    await box.waitFor({ state: 'hidden' });
  });

  await check('no console errors while all of this happened', async () => {
    assert.deepEqual(errors, []);
  });

  await check('after a daemon restart the page reconnects by itself and follows again', async () => {
    await stopDaemon();
    await page.locator('#conn.retry').waitFor();
    await shot(page, '09-daemon-down');
    await startDaemon(port);
    await page.locator('#conn.live').waitFor();
    // The restarted daemon's totals start again.
    await page.waitForFunction(() => document.getElementById('total-deny').textContent === '0');
    const r = await within(STEP_MS, sh('touch ./blocked-marker-2; echo "touch exited $?"').done, 'denied command');
    assert.match(r.out, /touch exited [1-9]/, r.out);
    assert.ok(!fs.existsSync(path.join(work, 'blocked-marker-2')));
    await page.locator('#feed tr[data-decision="deny"]', { hasText: 'blocked-marker-2' }).waitFor();
    assert.equal(await page.textContent('#total-deny'), '1');
    await shot(page, '10-reconnected');
  });

  await check('a wrong token gets a clear message and no data', async () => {
    const other = await browser.newPage();
    watch(other, 'wrong-token');
    await other.goto(base + '/dashboard/');
    await other.fill('#token-input', 'rampart_' + '0'.repeat(64));
    await other.click('#token-submit');
    const msg = other.locator('#token-error');
    await msg.waitFor({ state: 'visible' });
    const text = await msg.textContent();
    assert.match(text, /token was refused/);
    assert.match(text, /~\/\.rampart\/token/);
    assert.ok(await other.locator('#app').isHidden());
    await shot(other, '11-wrong-token');
    const pageErrors = errors.filter((e) => e.includes('page error'));
    assert.deepEqual(pageErrors, []);
    await other.close();
  });

  await check('the forget button clears the token', async () => {
    await page.click('#forget');
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.reload();
    await page.locator('#login').waitFor({ state: 'visible' });
    assert.ok(await page.locator('#app').isHidden());
  });

  await check('the token is never in a URL or in the daemon log', async () => {
    assert.ok(urls.length > 10, 'requests were seen');
    for (const u of urls) assert.ok(!u.includes(token), 'token in ' + u);
    const log = fs.readFileSync(logPath, 'utf8');
    assert.ok(log.length > 0);
    assert.ok(!log.includes(token), 'the token is in the daemon log');
  });
}

const guard = setTimeout(() => {
  console.log('FAIL the browser tests did not finish within 180 s');
  cleanup(1);
}, 180000);

async function cleanup(code) {
  clearTimeout(guard);
  try {
    if (browser) await within(5000, browser.close(), 'closing chromium');
  } catch {
    // killed with the process group below
  }
  await stopDaemon().catch(() => {});
  for (const c of children) c.kill('SIGKILL');
  if (code === 0 && !process.env.KEEP) fs.rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir} (daemon log: ${logPath})`);
  process.exit(code);
}

main()
  .catch((e) => {
    results.push({ name: 'set-up', ok: false });
    console.log('FAIL set-up: ' + (e.stack || e));
  })
  .finally(() => {
    const failed = results.filter((r) => !r.ok).length;
    for (const [k, v] of Object.entries(figures)) console.log(`figure ${k}=${v}`);
    console.log(`${results.length - failed} passed, ${failed} failed; screenshots in ${SHOTS}`);
    cleanup(failed ? 1 : 0);
  });
