/**
 * Abuse: what one hostile client (or address) can do to a gateway, and that it stays bounded while
 * everyone else is served. Per-user rate limits shared through Redis, the per-address connection
 * cap, Origin checks, security headers, header floods, slowloris, idle unauthenticated Engine.IO
 * connections, token expiry, and the published advisories of ws / engine.io / socket.io-parser.
 * Each `describe` runs its own stack with the knob under test turned down.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import type { Response } from '../protocol/index.js';
import { connect, placeAt, TestClient, token } from './support/clients.js';
import { testConfig } from './support/env.js';
import {
  ackProblem, normalRide, rawHttp, rawTcp, restProblem, within, type RawConnection, type RawResponse,
} from './support/hostile.js';
import { startStack, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

type Answer = Response<unknown>;

const codeOf = (a: Answer) => (a.ok ? 'ok' : a.error.code);
const countBy = (answers: Answer[]) => {
  const out: Record<string, number> = {};
  for (const a of answers) out[codeOf(a)] = (out[codeOf(a)] ?? 0) + 1;
  return out;
};

/**
 * The most a fixed-window limiter of `limit` per `windowMs` can let through in a burst that took
 * `elapsedMs`, when the user's window opened with the burst's first request: one full budget per
 * window the burst touched.
 */
const maxAccepted = (limit: number, elapsedMs: number, windowMs = 1000) => limit * (Math.floor(elapsedMs / windowMs) + 1);

/** `n` acked events sent at once, dealt round-robin over `clients`; every ack, and how long they took. */
async function burst(clients: TestClient[], n: number, event: string, payload: unknown): Promise<{ answers: Answer[][]; elapsed: number }> {
  const started = Date.now();
  const pending: Promise<Answer>[][] = clients.map(() => []);
  for (let i = 0; i < n; i++) pending[i % clients.length]!.push(clients[i % clients.length]!.emit(event, payload));
  const answers = await Promise.all(pending.map((p) => Promise.all(p)));
  return { answers, elapsed: Date.now() - started };
}

/** A Socket.IO handshake with a valid token: 'connected', or 'refused: <reason>' on connect_error. */
async function attempt(url: string, transport: 'websocket' | 'polling', o: { origin?: string; auth?: string } = {}): Promise<string> {
  const socket: Socket = io(url, {
    auth: { token: o.auth ?? (await token('attempt', 'passenger')) },
    transports: [transport],
    reconnection: false,
    forceNew: true,
    ...(o.origin === undefined ? {} : { extraHeaders: { origin: o.origin } }),
  });
  try {
    return await within(
      new Promise<string>((resolve) => {
        socket.once('connect', () => resolve('connected'));
        socket.once('connect_error', (err) => resolve(`refused: ${err.message}`));
      }),
      15000,
      `an answer to a ${transport} handshake`,
    );
  } finally {
    socket.close();
  }
}

/** A raw Engine.IO v4 websocket (no Socket.IO client): its text frames, answered pings, its close. */
interface RawEio {
  ws: WebSocket;
  texts: string[];
  closed: Promise<number>;
  isClosed(): boolean;
}
function rawEio(url: string): Promise<RawEio> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
  const texts: string[] = [];
  let done = false;
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => {
    done = true;
    resolve(code);
  }));
  ws.on('message', (data, binary) => {
    if (binary) return;
    const text = (data as Buffer).toString('utf8');
    texts.push(text);
    if (text === '2') ws.send('3'); // heartbeat
  });
  ws.on('error', () => undefined); // a refused or reset connection shows as its close
  return within(new Promise<RawEio>((resolve, reject) => {
    ws.once('open', () => resolve({ ws, texts, closed, isClosed: () => done }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`websocket refused with ${res.statusCode}`)));
  }), 10000, 'a raw Engine.IO websocket to open');
}

/** A raw Engine.IO websocket that has joined the default namespace with a valid token. */
async function rawSocketIo(url: string, id: string): Promise<RawEio> {
  const conn = await rawEio(url);
  await until(() => conn.texts.some((t) => t.startsWith('0{')), 'the Engine.IO open packet', 10000, 10);
  conn.ws.send(`40${JSON.stringify({ token: await token(id, 'passenger') })}`);
  await until(() => conn.texts.some((t) => t.startsWith('40{')), 'the Socket.IO CONNECT answer', 10000, 10);
  return conn;
}

const EIO_POLL = '/socket.io/?EIO=4&transport=polling';

/** Open an Engine.IO polling session; its sid. */
async function pollingSession(url: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await rawHttp(url, 'GET', EIO_POLL, { headers });
  expect(res.status, res.text).to.equal(200);
  expect(res.text.startsWith('0{'), res.text).to.equal(true);
  return (JSON.parse(res.text.slice(1)) as { sid: string }).sid;
}

/** True once the polling session `sid` is gone: the server says so, or its next poll carries the close packet. */
async function pollingSessionEnded(url: string, sid: string, what = sid): Promise<boolean> {
  const res = await rawHttp(url, 'GET', `${EIO_POLL}&sid=${sid}`, { ms: 8000 }).catch((err: Error) => {
    throw new Error(`${what}: the session is still open (${err.message})`);
  });
  if (res.status === 400) return /Session ID unknown/.test(res.text);
  return res.status === 200 && res.text.split('\x1e').includes('1');
}

/** Every installed copy of `name` under node_modules (nested copies included), with its version. */
function installedCopies(name: string, dir = 'node_modules', depth = 0): { path: string; version: string }[] {
  const out: { path: string; version: string }[] = [];
  const own = join(dir, name, 'package.json');
  if (existsSync(own)) out.push({ path: own, version: (JSON.parse(readFileSync(own, 'utf8')) as { version: string }).version });
  if (depth > 6) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const pkgs = entry.name.startsWith('@') ? readdirSync(join(dir, entry.name)).map((n) => join(dir, entry.name, n)) : [join(dir, entry.name)];
    for (const pkg of pkgs) {
      const nested = join(pkg, 'node_modules');
      if (existsSync(nested)) out.push(...installedCopies(name, nested, depth + 1));
    }
  }
  return out;
}

/** -1, 0 or 1 comparing two x.y.z versions (pre-release tags ignored). */
function compareVersions(a: string, b: string): number {
  const pa = a.split('-')[0]!.split('.').map(Number);
  const pb = b.split('-')[0]!.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

describe('abuse', () => {
  describe('per-user rate limits (RATE_LIMIT_PER_S=5, LOCATION_RATE_LIMIT_PER_S=60)', () => {
    const LIMIT = 5;
    const LOCATION_LIMIT = 60;
    let stack: Stack;
    const clients: TestClient[] = [];
    const user = async (gw: number, id: string, role: 'passenger' | 'driver' = 'passenger') => {
      const c = await connect(stack.gateways[gw]!.url, id, role);
      clients.push(c);
      return c;
    };
    const missing = { callId: 'no-such-call' };

    before(async () => {
      stack = await startStack({ gateways: 2, dispatchers: 0, env: { RATE_LIMIT_PER_S: LIMIT, LOCATION_RATE_LIMIT_PER_S: LOCATION_LIMIT } });
    });
    after(async () => {
      for (const c of clients.splice(0)) c.close();
      await stack.stop();
    });

    it('a burst of acked events over the limit from one user: the first are served, the rest get RATE_LIMITED contract acks', async () => {
      const rider = await user(0, 'rl-burst');
      const { answers: [answers], elapsed } = await burst([rider], 8 * LIMIT, 'call:get', missing);
      for (const a of answers!) expect(ackProblem(a), JSON.stringify(a)).to.equal(null);
      const counts = countBy(answers!);
      expect(Object.keys(counts).sort(), JSON.stringify(counts)).to.deep.equal(['NOT_FOUND', 'RATE_LIMITED']);
      expect(counts.NOT_FOUND, JSON.stringify(counts)).to.be.at.most(maxAccepted(LIMIT, elapsed));
      const limited = answers!.find((a) => !a.ok && a.error.code === 'RATE_LIMITED');
      expect(limited).to.have.nested.property('error.message').that.matches(/too many requests/);
      // The socket is refused events, not dropped.
      expect(rider.socket.connected).to.equal(true);
    });

    it('the budget lives in Redis: one user on both gateways, a burst split between them, is held to one budget', async () => {
      const viaA = await user(0, 'rl-shared');
      const viaB = await user(1, 'rl-shared');
      const { answers, elapsed } = await burst([viaA, viaB], 8 * LIMIT, 'call:get', missing);
      const all = answers.flat();
      for (const a of all) expect(ackProblem(a), JSON.stringify(a)).to.equal(null);
      const served = all.filter((a) => !a.ok && a.error.code === 'NOT_FOUND').length;
      // A limit per process would let each gateway serve a full budget: 2 × LIMIT in a burst under 1 s.
      expect(served, `${served} served in ${elapsed} ms`).to.be.at.least(1).and.at.most(maxAccepted(LIMIT, elapsed));
      for (const [i, part] of answers.entries()) {
        expect(countBy(part).RATE_LIMITED ?? 0, `gateway ${i}: ${JSON.stringify(countBy(part))}`).to.be.at.least(1);
      }
    });

    it('another user is unaffected: while one user floods, another user\'s events within its budget are all served', async () => {
      const flooder = await user(0, 'rl-flooder');
      const bystander = await user(1, 'rl-bystander');
      const [flood, calm] = await Promise.all([
        burst([flooder], 8 * LIMIT, 'call:get', missing),
        burst([bystander], LIMIT, 'call:get', missing),
      ]);
      expect(countBy(flood.answers[0]!).RATE_LIMITED ?? 0, 'the flood was limited').to.be.at.least(1);
      expect(countBy(calm.answers[0]!)).to.deep.equal({ NOT_FOUND: LIMIT });
    });

    it('driver:location has its own, higher budget: a burst over the event limit but under the location limit is all served, and it is limited past its own', async () => {
      const driver = await user(0, 'rl-driver', 'driver');
      expect(await driver.emit('driver:online', placeAt(1))).to.deep.equal({ ok: true, data: { status: 'available' } });
      const under = await burst([driver], LOCATION_LIMIT / 2, 'driver:location', placeAt(1));
      expect(countBy(under.answers[0]!), `${LOCATION_LIMIT / 2} locations, event limit ${LIMIT}`).to.deep.equal({ ok: LOCATION_LIMIT / 2 });
      for (const a of under.answers[0]!) expect(a).to.deep.equal({ ok: true, data: {} });
      // Locations did not spend the event budget.
      expect(codeOf(await driver.emit('call:get', missing))).to.equal('NOT_FOUND');
      // … and they have a ceiling of their own.
      const over = await burst([driver], 4 * LOCATION_LIMIT, 'driver:location', placeAt(1));
      const counts = countBy(over.answers[0]!);
      expect(counts.RATE_LIMITED ?? 0, JSON.stringify(counts)).to.be.at.least(1);
      expect(counts.ok ?? 0, JSON.stringify(counts)).to.be.at.most(maxAccepted(LOCATION_LIMIT, over.elapsed));
    });

    it('a REST burst over the limit gets 429 with a RATE_LIMITED error body', async () => {
      const auth = { authorization: `Bearer ${await token('rl-rest', 'passenger')}` };
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 8 * LIMIT }, () => rawHttp(stack.gateways[0]!.url, 'GET', '/api/calls/no-such-call', { headers: auth })));
      const elapsed = Date.now() - started;
      for (const res of answers) expect(restProblem(res), res.text).to.equal(null);
      const statuses = answers.map((r) => r.status);
      expect([...new Set(statuses)].sort()).to.deep.equal([404, 429]);
      expect(statuses.filter((s) => s === 404).length).to.be.at.most(maxAccepted(LIMIT, elapsed));
      const limited = answers.find((r) => r.status === 429)!;
      expect(limited.json).to.have.all.keys('error');
      expect((limited.json as { error: { code: string } }).error.code).to.equal('RATE_LIMITED');
    });
  });

  describe('per-address cap on connection attempts (CONNECT_RATE_PER_IP=5 per 10 s)', () => {
    const CAP = 5;
    let stack: Stack;
    let url: string;
    const clients: TestClient[] = [];
    beforeEach(async () => {
      // A fresh stack (and KEY_PREFIX) per test: each starts with a whole budget.
      stack = await startStack({ gateways: 1, dispatchers: 0, env: { CONNECT_RATE_PER_IP: CAP } });
      url = stack.gateways[0]!.url;
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      await stack.stop();
    });

    it('the first attempts connect; attempts beyond the cap within the window are refused, by websocket and by polling, and the sockets already in keep working', async () => {
      for (let i = 0; i < CAP; i++) clients.push(await connect(url, `cap-${i}`, 'passenger'));
      expect(await attempt(url, 'websocket')).to.match(/^refused/);
      expect(await attempt(url, 'polling')).to.match(/^refused/);
      const raw = await rawHttp(url, 'GET', EIO_POLL);
      expect(raw.status, raw.text).to.equal(403);
      expect(raw.text).to.contain('too many connection attempts');
      for (const c of clients) expect(await c.emit('call:active', {})).to.deep.equal({ ok: true, data: [] });
    });

    it('a flood of 200 attempts from one address: at most the cap get in, every other attempt is refused at once, and the process keeps serving', async () => {
      const auth = await token('flooder', 'passenger');
      const started = Date.now();
      const results = await within(Promise.all(Array.from({ length: 200 }, () => attempt(url, 'websocket', { auth }))), 30000, 'every attempt to be answered');
      const elapsed = Date.now() - started;
      const connected = results.filter((r) => r === 'connected').length;
      expect(connected, `${connected} of 200 in ${elapsed} ms`).to.be.at.least(1).and.at.most(maxAccepted(CAP, elapsed, 10000));
      expect(results.filter((r) => r.startsWith('refused')).length).to.equal(200 - connected);
      // Still serving: health, readiness and REST answer normally.
      expect((await rawHttp(url, 'GET', '/healthz')).status).to.equal(200);
      expect((await rawHttp(url, 'GET', '/readyz')).status).to.equal(200);
      const list = await rawHttp(url, 'GET', '/api/calls', { headers: { authorization: `Bearer ${auth}` } });
      expect(list.status, list.text).to.equal(200);
      expect(list.json).to.deep.equal({ items: [] });
    });
  });

  describe('ALLOWED_ORIGINS=https://app.example, and security headers', () => {
    const ALLOWED = 'https://app.example';
    const EVIL = 'https://evil.example';
    let stack: Stack;
    let url: string;
    before(async () => {
      stack = await startStack({ gateways: 1, dispatchers: 0, env: { ALLOWED_ORIGINS: ALLOWED } });
      url = stack.gateways[0]!.url;
    });
    after(async () => {
      await stack.stop();
    });

    for (const transport of ['websocket', 'polling'] as const) {
      it(`${transport} handshake: a disallowed Origin is refused; the allowed one and none (a non-browser client) connect`, async () => {
        expect(await attempt(url, transport, { origin: EVIL })).to.match(/^refused/);
        expect(await attempt(url, transport, { origin: 'https://app.example.evil.example' })).to.match(/^refused/);
        expect(await attempt(url, transport, { origin: 'null' })).to.match(/^refused/);
        expect(await attempt(url, transport, { origin: ALLOWED })).to.equal('connected');
        expect(await attempt(url, transport)).to.equal('connected');
        if (transport === 'polling') {
          const raw = await rawHttp(url, 'GET', EIO_POLL, { headers: { origin: EVIL } });
          expect(raw.status, raw.text).to.equal(403);
          expect(raw.text).not.to.match(/^0\{/);
        } else {
          const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers: { origin: EVIL } });
          const status = await within(new Promise<number | string>((resolve) => {
            ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
            ws.once('open', () => resolve('open'));
            ws.once('error', (err) => resolve(err.message));
          }), 10000, 'an answer to the upgrade');
          ws.terminate();
          expect(status).to.be.a('number').within(400, 499);
        }
      });
    }

    it('REST with a disallowed Origin is 403 FORBIDDEN and does nothing; the allowed Origin and none are served', async () => {
      const auth = `Bearer ${await token('origin-rider', 'passenger')}`;
      const body = JSON.stringify({ requestId: 'evil', pickup: placeAt(2), dropoff: placeAt(2) });
      const refused = await rawHttp(url, 'POST', '/api/calls', { headers: { authorization: auth, origin: EVIL, 'content-type': 'application/json' }, body });
      expect(refused.status, refused.text).to.equal(403);
      expect(restProblem(refused)).to.equal(null);
      expect(refused.json).to.have.nested.property('error.code', 'FORBIDDEN');
      const read = await rawHttp(url, 'GET', '/api/calls', { headers: { authorization: auth, origin: EVIL } });
      expect(read.status).to.equal(403);
      for (const headers of [{ authorization: auth, origin: ALLOWED }, { authorization: auth }] as Record<string, string>[]) {
        const ok = await rawHttp(url, 'GET', '/api/calls', { headers });
        expect(ok.status, ok.text).to.equal(200);
        // The refused POST made no call.
        expect(ok.json).to.deep.equal({ items: [] });
      }
    });

    it('HTTP answers carry helmet\'s security headers and no x-powered-by (success, error, and refused-origin answers)', async () => {
      const auth = `Bearer ${await token('origin-rider', 'passenger')}`;
      const answers: [string, RawResponse][] = [
        ['GET /healthz', await rawHttp(url, 'GET', '/healthz')],
        ['GET /api/calls', await rawHttp(url, 'GET', '/api/calls', { headers: { authorization: auth } })],
        ['GET /api/calls without a token', await rawHttp(url, 'GET', '/api/calls')],
        ['GET /nope', await rawHttp(url, 'GET', '/nope')],
        ['GET /api/calls from a disallowed origin', await rawHttp(url, 'GET', '/api/calls', { headers: { authorization: auth, origin: EVIL } })],
      ];
      for (const [what, res] of answers) {
        expect(res.headers, what).not.to.have.property('x-powered-by');
        expect(res.headers['x-content-type-options'], what).to.equal('nosniff');
        expect(res.headers['x-frame-options'], what).to.equal('SAMEORIGIN');
        expect(res.headers['content-security-policy'], what).to.be.a('string').that.contains("default-src 'self'");
        expect(res.headers['strict-transport-security'], what).to.be.a('string').that.contains('max-age=');
        expect(res.headers['referrer-policy'], what).to.equal('no-referrer');
      }
    });
  });

  describe('header floods', () => {
    let stack: Stack;
    let url: string;
    const many = (n: number, name = 'x-flood-') => Array.from({ length: n }, (_, i) => `${name}${i}: v\r\n`).join('');
    const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
    const send = async (req: string) => {
      const conn = await rawTcp(url, req);
      return within(conn.whenClosed, 10000, 'the server to answer and close');
    };
    before(async () => {
      stack = await startStack({ gateways: 1, dispatchers: 1 });
      url = stack.gateways[0]!.url;
    });
    after(async () => {
      await stack.stop();
    });

    it('a request with thousands of headers gets 431 and its connection is closed; the server keeps serving', async () => {
      const answer = await send(`GET /healthz HTTP/1.1\r\nHost: x\r\n${many(5000)}\r\n`);
      expect(answer).to.match(/^HTTP\/1\.1 431 /);
      const post = await send(`POST /api/calls HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n${many(5000)}\r\n{}`);
      expect(post).to.match(/^HTTP\/1\.1 431 /);
      expect((await rawHttp(url, 'GET', '/healthz')).status).to.equal(200);
      const rider = await connect(url, 'after-431', 'passenger');
      expect(await rider.emit('call:active', {})).to.deep.equal({ ok: true, data: [] });
      rider.close();
    });

    it('websocket upgrades with thousands of headers (the CVE-2024-37890 shape) are refused without crashing the server, which then dispatches a normal ride', async () => {
      // Over the 16 KB header limit: Node refuses it before any upgrade code runs.
      expect(await send(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n${many(5000)}${UPGRADE}\r\n`)).to.match(/^HTTP\/1\.1 431 /);
      // Under the size limit but past maxHeadersCount: the upgrade headers are cut off after parsing,
      // which crashed ws < 8.17.1; now the upgrade is refused.
      const cut = await send(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2000 }, (_, i) => `h${i}:1\r\n`).join('')}${UPGRADE}\r\n`);
      expect(cut).to.match(/^HTTP\/1\.1 4\d\d /);
      expect(cut).not.to.contain('101 Switching Protocols');
      // The same with the Sec-WebSocket-* headers first and Upgrade cut off.
      const cut2 = await send(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${Array.from({ length: 2000 }, (_, i) => `h${i}:1\r\n`).join('')}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
      expect(cut2).to.match(/^HTTP\/1\.1 4\d\d /);
      expect((await rawHttp(url, 'GET', '/healthz')).status).to.equal(200);
      await normalRide(url, url, 'hdr', placeAt(6));
    });
  });

  describe('slowloris (HTTP_HEADERS_TIMEOUT_MS=1000)', () => {
    const HEADERS_TIMEOUT = 1000;
    let stack: Stack;
    let url: string;
    before(async () => {
      stack = await startStack({ gateways: 1, dispatchers: 0, env: { HTTP_HEADERS_TIMEOUT_MS: HEADERS_TIMEOUT, HTTP_REQUEST_TIMEOUT_MS: 2000 } });
      url = stack.gateways[0]!.url;
    });
    after(async () => {
      await stack.stop();
    });

    it('partial and silent connections are closed by the server within the headers timeout plus Node\'s check interval, while a real client is served throughout', async function () {
      const server = stack.gateways[0]!.io!.httpServer as unknown as { headersTimeout: number; connectionsCheckingInterval?: number };
      expect(server.headersTimeout).to.equal(HEADERS_TIMEOUT);
      // Node enforces headersTimeout from a timer that runs every connectionsCheckingInterval
      // (30 s unless the server is created with another value), so that is how late a slow
      // connection can be dropped.
      const checkEvery = server.connectionsCheckingInterval ?? 30000;
      const deadline = HEADERS_TIMEOUT + checkEvery + 5000;
      this.timeout(deadline + 30000);

      const attackers: { kind: string; conn: RawConnection }[] = [];
      const trickles: NodeJS.Timeout[] = [];
      try {
        for (let i = 0; i < 4; i++) {
          // A request line and some headers, then one more header every 200 ms, never the blank line.
          const conn = await rawTcp(url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow-0: ${i}\r\n`);
          let n = 1;
          trickles.push(setInterval(() => conn.write(`X-Slow-${n++}: ${i}\r\n`), 200));
          attackers.push({ kind: 'trickling headers', conn });
        }
        for (let i = 0; i < 2; i++) attackers.push({ kind: 'half a request line', conn: await rawTcp(url, 'GET /hea') });
        for (let i = 0; i < 3; i++) attackers.push({ kind: 'silent', conn: await rawTcp(url) });

        // During the attack a real client is served normally: HTTP, REST and a socket.
        expect((await rawHttp(url, 'GET', '/healthz')).status).to.equal(200);
        const list = await rawHttp(url, 'GET', '/api/calls', { headers: { authorization: `Bearer ${await token('slow-victim', 'passenger')}` } });
        expect(list.status, list.text).to.equal(200);
        const rider = await connect(url, 'slow-victim', 'passenger');
        expect(await rider.emit('call:active', {})).to.deep.equal({ ok: true, data: [] });
        rider.close();
        expect(attackers.filter((a) => !a.conn.closed).length, 'the attack was still on while the client was served').to.be.at.least(1);

        const answers = await within(Promise.all(attackers.map((a) => a.conn.whenClosed)), deadline, `every slow connection to be closed by the server (${deadline} ms)`);
        for (const [i, answer] of answers.entries()) {
          // Node answers 408 before closing; never a served request.
          expect(answer, attackers[i]!.kind).to.satisfy((s: string) => s === '' || s.startsWith('HTTP/1.1 408 '));
        }
      } finally {
        for (const t of trickles) clearInterval(t);
        for (const a of attackers) a.conn.destroy();
      }
      expect((await rawHttp(url, 'GET', '/healthz')).status).to.equal(200);
    });
  });

  describe('idle unauthenticated Engine.IO connections (AUTH_TIMEOUT_MS=500)', () => {
    const AUTH_TIMEOUT = 500;
    let stack: Stack;
    let url: string;
    before(async () => {
      stack = await startStack({ gateways: 1, dispatchers: 0, env: { AUTH_TIMEOUT_MS: AUTH_TIMEOUT } });
      url = stack.gateways[0]!.url;
    });
    after(async () => {
      await stack.stop();
    });

    it('a connection that never sends the Socket.IO CONNECT packet is closed after AUTH_TIMEOUT_MS, by websocket and by polling; authenticated sockets stay', async () => {
      expect(testConfig(stack.env, 'gateway').AUTH_TIMEOUT_MS).to.equal(AUTH_TIMEOUT);
      const rider = await connect(url, 'idle-control', 'passenger');
      const idle = await rawEio(url);
      await until(() => idle.texts.some((t) => t.startsWith('0{')), 'the Engine.IO open packet', 5000, 10);
      const sid = await pollingSession(url);
      // The long poll is answered with the close packet when the server gives up on the session.
      const poll = rawHttp(url, 'GET', `${EIO_POLL}&sid=${sid}`, { ms: AUTH_TIMEOUT + 8000 });

      await within(idle.closed, AUTH_TIMEOUT + 5000, 'the idle websocket to be closed');
      const polled = await poll;
      expect(polled.status).to.equal(200);
      expect(polled.text.split('\x1e')).to.include('1');
      expect(await pollingSessionEnded(url, sid)).to.equal(true);
      // No Socket.IO packet ever reached the idle connection.
      expect(idle.texts.filter((t) => t.startsWith('4'))).to.deep.equal([]);

      expect(rider.socket.connected).to.equal(true);
      expect(await rider.emit('call:active', {})).to.deep.equal({ ok: true, data: [] });
      rider.close();
    });
  });

  describe('token expiry', () => {
    let stack: Stack;
    let url: string;
    before(async () => {
      stack = await startStack({ gateways: 1, dispatchers: 0 });
      url = stack.gateways[0]!.url;
    });
    after(async () => {
      await stack.stop();
    });

    it('a token that expires while connected ends that socket (and only that one); the token no longer connects', async () => {
      const short = await token('expiring', 'passenger', '2s');
      const control = await connect(url, 'expiring', 'passenger');
      const socket: Socket = io(url, { auth: { token: short }, transports: ['websocket'], reconnection: false, forceNew: true });
      try {
        await within(new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        }), 10000, 'the short-lived token to connect');
        const reason = await within(new Promise<string>((resolve) => socket.once('disconnect', resolve)), 2000 + 5000, 'the expired socket to be disconnected');
        expect(reason).to.equal('io server disconnect');
        expect(await attempt(url, 'websocket', { auth: short })).to.equal('refused: UNAUTHORIZED');
      } finally {
        socket.close();
      }
      expect(control.socket.connected).to.equal(true);
      expect(await control.emit('call:active', {})).to.deep.equal({ ok: true, data: [] });
      control.close();
    });
  });

  describe('published advisories of ws, engine.io and socket.io-parser', () => {
    let stack: Stack;
    let url: string;
    let place = 20;
    before(async () => {
      stack = await startStack({ gateways: 1, dispatchers: 1 });
      url = stack.gateways[0]!.url;
    });
    after(async () => {
      await stack.stop();
    });

    const FIXED: Record<string, string> = {
      ws: '8.17.1', // CVE-2024-37890: too many headers crash the server
      'engine.io': '6.6.2', // also covers 6.2.1 (CVE-2022-41940) and 6.4.2 (CVE-2023-31125)
      'socket.io-parser': '4.2.4', // CVE-2023-32695 and the attachments-count fix
    };
    it('every installed copy of ws, engine.io and socket.io-parser is at or above its fix', () => {
      for (const [name, fixed] of Object.entries(FIXED)) {
        const copies = installedCopies(name);
        expect(copies.length, `${name} installed`).to.be.at.least(1);
        for (const c of copies) expect(compareVersions(c.version, fixed), `${c.path} is ${c.version}, fixed in ${fixed}`).to.be.at.least(0);
      }
    });

    it('a Socket.IO packet with a hostile binary placeholder closes that connection only; the gateway then dispatches a normal ride', async () => {
      const bystander = await connect(url, 'placeholder-bystander', 'passenger');
      for (const packet of [
        '451-["call:get",{"_placeholder":true,"num":"__proto__"}]',
        '451-["x",{"_placeholder":true,"num":99}]',
        '451-["call:get",{"_placeholder":true,"num":"toString"}]',
        '452-["call:get",{"_placeholder":true,"num":-1},{"_placeholder":true,"num":1}]',
      ]) {
        const conn = await rawSocketIo(url, 'placeholder-attacker');
        conn.ws.send(packet);
        const attachments = Number(/^45(\d+)-/.exec(packet)![1]);
        for (let i = 0; i < attachments; i++) conn.ws.send(Buffer.from([1, 2, 3]));
        await within(conn.closed, 5000, `the server to close the connection after ${packet}`);
      }
      expect(bystander.socket.connected).to.equal(true);
      expect(await bystander.emit('call:active', {})).to.deep.equal({ ok: true, data: [] });
      bystander.close();
      await normalRide(url, url, 'placeholder', placeAt(place++));
    });

    it('malformed Engine.IO polling payloads and requests are answered (never 5xx) and end only their session; the gateway then dispatches a normal ride', async () => {
      const bodies: [string, string | Buffer][] = [
        ['an empty message packet', '4'],
        ['two bare separators', '\x1e\x1e'],
        ['an EIO3 length prefix of 10^12', '999999999999:42["call:get",{}]'],
        ['an unknown packet type', '9hello'],
        ['a message and a separator', '4\x1e'],
        ['a base64 binary packet outside any event', 'bAAAA'],
        ['a close packet', '1'],
        ['an empty body', ''],
        ['invalid UTF-8', Buffer.from([0x34, 0xff, 0xfe, 0xfd])],
        ['a huge invalid length in a socket.io packet', `4451${'9'.repeat(500)}-["x"]`],
      ];
      for (const [what, body] of bodies) {
        const sid = await pollingSession(url);
        const res = await rawHttp(url, 'POST', `${EIO_POLL}&sid=${sid}`, { headers: { 'content-type': 'text/plain;charset=UTF-8' }, body });
        expect(res.status, `${what}: ${res.text}`).to.be.below(500);
        expect(await pollingSessionEnded(url, sid, what), `${what}: the session is ended`).to.equal(true);
      }
      // A POST over maxHttpBufferSize.
      const max = testConfig(stack.env, 'gateway').MAX_SOCKET_FRAME_BYTES;
      const sid = await pollingSession(url);
      const big = await rawHttp(url, 'POST', `${EIO_POLL}&sid=${sid}`, { headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: `4${'x'.repeat(max + 1024)}` });
      expect(big.status).to.equal(413);
      // Only that request was refused, unread: the session still joins Socket.IO normally.
      const join = await rawHttp(url, 'POST', `${EIO_POLL}&sid=${sid}`, { headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: `40${JSON.stringify({ token: await token('polling-big', 'passenger') })}` });
      expect(join.status, join.text).to.equal(200);
      const joined = await rawHttp(url, 'GET', `${EIO_POLL}&sid=${sid}`);
      expect(joined.text, 'the CONNECT answer').to.match(/^40\{"sid":/);
      expect(await rawHttp(url, 'POST', `${EIO_POLL}&sid=${sid}`, { body: '1' })).to.have.property('status', 200);
      // Requests that do not fit any session.
      for (const [what, method, path] of [
        ['a POST without a sid', 'POST', EIO_POLL],
        ['an unknown sid', 'GET', `${EIO_POLL}&sid=nope`],
        ['an unknown transport', 'GET', '/socket.io/?EIO=4&transport=carrier-pigeon'],
        ['Engine.IO v3', 'GET', '/socket.io/?EIO=3&transport=polling'],
        ['no EIO version', 'GET', '/socket.io/?transport=polling'],
      ] as const) {
        const res = await rawHttp(url, method, path, { body: method === 'POST' ? '4x' : undefined });
        expect(res.status, `${what}: ${res.text}`).to.equal(400);
      }
      expect((await rawHttp(url, 'GET', '/healthz')).status).to.equal(200);
      await normalRide(url, url, 'polling', placeAt(place++));
    });
  });
});
