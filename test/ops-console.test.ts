/**
 * The operator console (/ops) in real Chromium against two gateways and a separate dispatcher: an
 * admin signs in with a pasted token, sees one marker per online driver (on either gateway) and
 * the calls, follows a call to dispatched with its driver line, cancels a call and suspends and
 * lifts a driver from the cards (the users' sockets see the results), and a non-admin token is
 * refused at sign-in. Values reach the page as text. No request leaves the gateway, no page error,
 * nothing blocked by the page's Content-Security-Policy.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Call, Offer, OfferRevoked } from '../protocol/index.js';
import { makeCommands, matchSettings } from '../server/redis/commands.js';
import { regionOf, regionResolution } from '../server/region.js';
import { connect, DROPOFF, PICKUP, placeAt, token, type TestClient } from './support/clients.js';
import { testConfig } from './support/env.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { startStack, type Stack } from './support/stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = new URL('../test-artifacts/ops/', import.meta.url);
const WAIT = 15000;
/** The regions of the stack's MATCH_RADIUS_M (3 km): resolution 6. */
const RESOLUTION = regionResolution({ MATCH_RADIUS_M: 3000 });
/** The browser's global, as far as the predicates read it (the tests' tsconfig has no DOM types). */
interface Window { document: { querySelectorAll(selector: string): { length: number } } }
const north = (metres: number) => ({ lat: PICKUP.lat + metres / 111_000, lng: PICKUP.lng });

describe('operator console (/ops) in Chromium', function () {
  this.timeout(60000);
  let stack: Stack;
  // The ledger on PostgreSQL: every gateway then serves the timelines and replays the page reads.
  let db: TestDatabase;
  let context: BrowserContext;
  let profile: string;
  let origin: string;
  const clients: TestClient[] = [];
  const problems: string[] = [];
  let n = 0;

  const user = async (node: number, id: string, role: 'passenger' | 'driver') => {
    const c = await connect(stack.gateways[node]!.url, id, role);
    clients.push(c);
    return c;
  };
  const online = async (node: number, id: string, at: { lat: number; lng: number }) => {
    const d = await user(node, id, 'driver');
    expect(await d.emit('driver:online', at)).to.deep.equal({ ok: true, data: { status: 'available' } });
    return d;
  };
  const request = async (r: TestClient, pickup = PICKUP) => {
    const res = await r.emit<Call>('call:request', { requestId: `q${++n}`, pickup, dropoff: DROPOFF });
    if (!res.ok) throw new Error(`call:request: ${JSON.stringify(res.error)}`);
    return res.data;
  };
  /** The first of `drivers` offered `callId`. */
  const offered = (drivers: TestClient[], callId: string) =>
    Promise.any(drivers.map((d) => d.next<Offer>('offer', (o) => o.callId === callId, WAIT).then(() => d)));
  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS.pathname, `${name}.png`) });

  async function openPage(): Promise<Page> {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${origin}/`)) return route.continue();
      problems.push(`request to another origin: ${url}`);
      return route.abort();
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`);
    });
    await page.goto(`${origin}/ops`);
    return page;
  }
  async function signIn(page: Page, jwt: string): Promise<void> {
    await page.waitForSelector('[data-testid="token"]', { timeout: WAIT });
    await page.fill('[data-testid="token"]', jwt);
    await page.click('[data-testid="signin-submit"]');
  }
  // Functions, not strings: the page's policy has no 'unsafe-eval'.
  const waitFor = (page: Page, what: string, fn: (arg: number) => boolean, arg: number) =>
    page.waitForFunction(fn, arg, { timeout: WAIT }).catch((err: Error) => {
      throw new Error(`waiting for ${what}: ${err.message}`);
    });

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`);
    mkdirSync(ARTIFACTS, { recursive: true });
    db = await createTestDatabase();
    stack = await startStack({
      gateways: 2, dispatchers: 1,
      env: { DATABASE_URL: db.url, OFFER_TIMEOUT_MS: 60000, OFFER_WAVE_SIZE: 1, CALL_TIMEOUT_MS: 60000, MATCH_RADIUS_M: 3000, RATE_LIMIT_PER_S: 0, OPS_FEED_MS: 100 },
    });
    origin = new URL(stack.gateways[0]!.url).origin;
    profile = mkdtempSync(join(tmpdir(), 'ops-console-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  after(async () => {
    for (const c of clients.splice(0)) c.close();
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await stack?.stop();
    await db?.drop();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    const seen = problems.splice(0);
    expect(seen, 'page errors, blocked requests or policy violations').to.deep.equal([]);
  });

  it('GET /ops, its assets and config.json come from the gateway with the console policy; other names under /ops/assets are 404', async () => {
    const page = await fetch(`${origin}/ops`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-security-policy')).to.contain("default-src 'none'").and.contain("script-src 'self'").and.not.contain('unsafe');
    for (const a of ['console.js', 'console.css']) expect((await fetch(`${origin}/ops/assets/${a}`)).status, a).to.equal(200);
    for (const a of ['nope.js', '..%2Fconsole.ts', 'main.ts']) expect((await fetch(`${origin}/ops/assets/${a}`)).status, a).to.equal(404);
    expect(await (await fetch(`${origin}/ops/config.json`)).json()).to.deep.equal({ alertWaitMs: 120000, stalePositionMs: 30000, expiryRate: 0.5, tileUrl: null, feedMs: 100, regionResolution: RESOLUTION });
  });

  it('refuses a rider\'s or a driver\'s token at sign-in: FORBIDDEN shown, back to the form, no map', async () => {
    const page = await openPage();
    for (const role of ['passenger', 'driver'] as const) {
      await signIn(page, await token(`not-admin-${role}`, role));
      const err = await page.waitForSelector('[data-testid="signin-error"]', { timeout: WAIT });
      expect(await err.getAttribute('data-code')).to.equal('FORBIDDEN');
      expect(await page.locator('[data-testid="map"]').count()).to.equal(0);
    }
    await shot(page, 'refused');
    await page.close();
  });

  it('signs in, shows every online driver and a call through to dispatched with its line, cancels a call from its card; values stay text', async () => {
    const d1 = await online(1, 'drv-b', north(100));
    const d2 = await online(0, 'drv-a', north(900));
    const rider = await user(1, 'rider-1', 'passenger');
    const page = await openPage();
    await signIn(page, await token('ops-admin', 'admin'));
    await waitFor(page, 'two driver markers', (count) => (globalThis as unknown as Window).document.querySelectorAll('[data-driver-id]').length === count, 2);
    for (const id of ['drv-a', 'drv-b']) expect(await page.locator(`[data-driver-id="${id}"]`).count(), id).to.equal(1);
    const hook = await page.evaluate(() => {
      const h = (globalThis as unknown as { __opsConsole: { mode(): string; drivers(): { driverId: string }[] } }).__opsConsole;
      return { mode: h.mode(), drivers: h.drivers().map((d) => d.driverId).sort() };
    });
    expect(hook).to.deep.equal({ mode: 'dom', drivers: ['drv-a', 'drv-b'] });
    await shot(page, 'drivers');

    const call = await request(rider);
    await page.waitForSelector(`[data-testid="call-marker"][data-call-id="${call.id}"]`, { timeout: WAIT });
    // With no basemap the map outlines the dispatcher's regions that hold open calls.
    await page.waitForSelector(`[data-region="${regionOf(call.pickup, RESOLUTION)}"][data-calls="1"]`, { timeout: WAIT, state: 'attached' });
    const winner = await offered([d1, d2], call.id);
    expect((await winner.emit<Call>('offer:accept', { callId: call.id })).ok).to.equal(true);
    await page.waitForSelector(`[data-testid="call-marker"][data-call-id="${call.id}"][data-state="dispatched"]`, { timeout: WAIT });
    await page.waitForSelector(`[data-line-call-id="${call.id}"]`, { timeout: WAIT, state: 'attached' });
    await shot(page, 'dispatched');

    await page.click(`[data-testid="call-marker"][data-call-id="${call.id}"]`);
    await page.waitForSelector(`[data-testid="call-card"][data-card-call-id="${call.id}"]`, { timeout: WAIT });
    expect(await page.isDisabled('[data-testid="lever-cancel"]'), 'no cancel without a reason').to.equal(true);
    const reason = 'rider called <b>twice</b> <img src=x>';
    await page.fill('[data-testid="call-card"] [data-testid="lever-reason"]', reason);
    await page.click('[data-testid="lever-cancel"]');
    const status = await rider.next<Call>('call:status', (c) => c.id === call.id && c.status === 'cancelled', WAIT);
    expect(status.cancelReason).to.equal(reason);
    await page.waitForSelector('[data-testid="card-reason"]', { timeout: WAIT });
    expect(await page.textContent('[data-testid="card-reason"]')).to.equal(reason);
    expect(await page.locator('[data-testid="call-card"] b, [data-testid="call-card"] img').count(), 'no element made of a value').to.equal(0);
    await page.waitForSelector('[data-testid="lever-replay"]', { timeout: WAIT });
    await shot(page, 'cancelled');
    await page.close();
  });

  it('suspends a driver holding an offer from its card (revoked, pushed, driver:online refused, marker suspended), then lifts it', async () => {
    // Away from the drivers of the test before (closed, still in their grace period and dispatchable).
    const there = placeAt(1);
    const d = await online(1, 'drv-s', there);
    const rider = await user(0, 'rider-2', 'passenger');
    const page = await openPage();
    await signIn(page, await token('ops-admin', 'admin'));
    await page.waitForSelector('[data-driver-id="drv-s"]', { timeout: WAIT });
    const call = await request(rider, there);
    await d.next<Offer>('offer', (o) => o.callId === call.id, WAIT);
    await page.waitForSelector('[data-driver-id="drv-s"][data-state="offered"]', { timeout: WAIT });

    // The call's marker sits on the driver's: hide open calls with the filters to reach the driver.
    for (const st of ['requested', 'offered']) await page.click(`[data-testid="filter-call-${st}"]`);
    await page.waitForSelector(`[data-testid="call-marker"][data-call-id="${call.id}"]`, { timeout: WAIT, state: 'detached' });
    await page.click('[data-driver-id="drv-s"]');
    await page.waitForSelector('[data-testid="driver-card"][data-card-driver-id="drv-s"]', { timeout: WAIT });
    await page.fill('[data-testid="driver-card"] [data-testid="lever-reason"]', 'document check');
    await page.selectOption('[data-testid="lever-duration"]', { label: 'until lifted' });
    await page.click('[data-testid="lever-suspend"]');
    expect(await d.next<OfferRevoked>('offer:revoked', (o) => o.callId === call.id, WAIT)).to.deep.equal({ callId: call.id, reason: 'cancelled' });
    expect(await d.next('driver:suspended', () => true, WAIT)).to.deep.equal({ reason: 'document check', until: null });
    const refused = await d.emit('driver:online', there);
    expect(refused.ok).to.equal(false);
    if (!refused.ok) expect(refused.error.code).to.equal('FORBIDDEN');
    await page.waitForSelector('[data-driver-id="drv-s"][data-state="suspended"]', { timeout: WAIT });
    await page.waitForSelector('[data-testid="lever-result"]', { timeout: WAIT });
    await shot(page, 'suspended');

    await page.click('[data-testid="lever-lift"]');
    await d.next('driver:lifted', () => true, WAIT);
    expect(await d.emit('driver:online', there)).to.deep.equal({ ok: true, data: { status: 'available' } });
    await page.waitForSelector('[data-driver-id="drv-s"]:not([data-state="suspended"])', { timeout: WAIT });
    await shot(page, 'lifted');

    await page.click('[data-testid="signout"]');
    await page.waitForSelector('[data-testid="token"]', { timeout: WAIT });
    await page.close();
  });

  it('the calls table finds a ride by rider id and shows its ledger timeline; the KPI strip is drawn; the ended ride replays with its track', async () => {
    const there = placeAt(3);
    const d = await online(0, 'drv-t', there);
    const rider = await user(1, 'rider-table', 'passenger');
    const page = await openPage();
    await signIn(page, await token('ops-admin', 'admin'));
    await page.waitForSelector('[data-testid="kpi"]', { timeout: WAIT });
    const call = await request(rider, there);
    await d.next<Offer>('offer', (o) => o.callId === call.id, WAIT);
    expect((await d.emit('offer:accept', { callId: call.id })).ok).to.equal(true);
    for (const [i, step] of (['trip:arrived', 'trip:start'] as const).entries()) {
      expect((await d.emit(step, { callId: call.id })).ok, step).to.equal(true);
      expect((await d.emit('driver:location', { lat: there.lat + 0.001 * (i + 1), lng: there.lng })).ok).to.equal(true);
    }
    expect((await d.emit('driver:location', { lat: there.lat + 0.003, lng: there.lng })).ok).to.equal(true);
    expect((await d.emit('trip:complete', { callId: call.id })).ok).to.equal(true);

    await page.fill('[data-testid="calls-search"]', 'rider-table');
    const row = `[data-testid="call-row"][data-call-id="${call.id}"][data-state="completed"]`;
    await page.waitForSelector(row, { timeout: WAIT });
    expect(await page.locator('[data-testid="call-row"]').count(), 'the search keeps only that rider\'s call').to.equal(1);
    await shot(page, 'table');
    await page.click(row);
    // The ledger is written a moment after the change: the timeline holds every status once it is.
    await page.waitForSelector('[data-testid="timeline-item"][data-status="completed"]', { timeout: WAIT });
    const items = await page.locator('[data-testid="call-timeline"] [data-testid="timeline-item"]').all();
    const statuses = await Promise.all(items.map((item) => item.getAttribute('data-status')));
    expect(statuses).to.include.members(['requested', 'offered', 'dispatched', 'arrived', 'in_progress', 'completed']);
    await shot(page, 'timeline');

    await page.waitForSelector(`[data-testid="call-card"][data-card-call-id="${call.id}"]`, { timeout: WAIT });
    await page.click('[data-testid="lever-replay"]');
    await page.waitForSelector('[data-testid="replay"]', { timeout: WAIT });
    await page.waitForFunction(() => Number((globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } })
      .document.querySelector('[data-testid="replay-point-count"]')?.textContent?.replace(/\D/g, '') ?? 0) >= 1, undefined, { timeout: WAIT });
    await shot(page, 'replay');
    await page.close();
  });

  it('past 2,000 markers draws them clustered on a canvas with every driver in the hook; filtered back under the bound they are DOM markers again', async () => {
    // A crowd put online through the same script as driver:online (no sockets: the page is the subject here).
    const commands = makeCommands(stack.redis, stack.keys, matchSettings(testConfig(stack.env, 'gateway')));
    const crowd = Array.from({ length: 2050 }, (_, j) => `crowd-${j}`);
    for (let j = 0; j < crowd.length; j += 250) {
      await Promise.all(crowd.slice(j, j + 250).map((driverId, k) => commands.driverOnline({
        driverId, vehicleClass: 'standard', now: Date.now(),
        pos: { lat: PICKUP.lat + 0.05 + ((j + k) % 50) * 0.002, lng: PICKUP.lng + Math.floor((j + k) / 50) * 0.002 },
      })));
    }
    const page = await openPage();
    await signIn(page, await token('ops-admin', 'admin'));
    const hooked = (min: number) => (globalThis as unknown as { __opsConsole?: { mode(): string; drivers(): unknown[] } }).__opsConsole?.mode() === 'canvas'
      && (globalThis as unknown as { __opsConsole: { drivers(): unknown[] } }).__opsConsole.drivers().length >= min;
    await waitFor(page, 'the canvas mode with the whole crowd in the hook', hooked, crowd.length);
    expect(await page.locator('[data-driver-id^="crowd-"]').count(), 'no DOM marker above the bound').to.equal(0);
    expect(await page.locator('.leaflet-overlay-pane canvas').count(), 'one canvas').to.be.greaterThan(0);
    // Below zoom 15 the markers are counted per cell: zoom out when fit-to-activity zoomed in on a call.
    for (let z = 0; z < 4 && (await page.locator('.cluster-count').count()) === 0; z++) {
      const out = page.locator('.leaflet-control-zoom-out');
      if ((await out.getAttribute('aria-disabled')) === 'true') break;
      await out.click();
      }
    await page.waitForSelector('.cluster-count', { timeout: WAIT, state: 'attached' });
    await shot(page, 'canvas');

    await page.uncheck('[data-testid="filter-driver-available"]');
    const dom = () => (globalThis as unknown as { __opsConsole: { mode(): string } }).__opsConsole.mode() === 'dom';
    await waitFor(page, 'the DOM mode once the filter leaves fewer markers than the bound', dom, 0);
    expect(await page.locator('[data-driver-id^="crowd-"]').count(), 'the available crowd is filtered out').to.equal(0);
    await page.check('[data-testid="filter-driver-available"]');
    await waitFor(page, 'the canvas mode again', hooked, crowd.length);
    await page.close();
  });
});
