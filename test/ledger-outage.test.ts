/**
 * The PostgreSQL ledger goes down and comes back, on a private server (never the shared one):
 * dispatch goes on, /readyz stays 200 and says the ledger is degraded, the backlog shows in the
 * metrics, each dispatcher parks at most one batch, a dispatcher restarted meanwhile starts and
 * dispatches, and once the database is back every change is written once, the stopped
 * dispatcher's pending entries included (claimed), and the stream is empty.
 */
import { expect } from 'chai';
import type { Call, Offer } from '../protocol/index.js';
import { LEDGER_GROUP } from '../server/ledger/consumer.js';
import { PostgresLedger } from '../server/ledger/postgres.js';
import { DROPOFF, placeAt, rest, restError } from './support/clients.js';
import { ledgerMismatchOf } from './support/ledger.js';
import { startPrivatePostgres, type PrivatePostgres } from './support/postgres.js';
import { startStack, type Stack } from './support/stack.js';
import { usersOf } from './support/users.js';
import { until } from './support/wait.js';

/** Stream entries one consumer reads at a time (consumer.ts BATCH): what an outage may park per dispatcher. */
const BATCH = 500;

async function readyz(url: string): Promise<{ code: number; body: { status: string; ledger?: string } }> {
  const res = await fetch(`${url}/readyz`);
  return { code: res.status, body: (await res.json()) as { status: string; ledger?: string } };
}

/** One sample of a Prometheus text exposition (no labels), or undefined when it is not there. */
async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** XPENDING's summary: the total, and each consumer's count. */
async function pending(stack: Stack): Promise<{ total: number; byConsumer: Map<string, number> }> {
  const [total, , , consumers] = (await stack.redis.xpending(stack.keys.ledger, LEDGER_GROUP)) as [number, unknown, unknown, [string, string][] | null];
  return { total, byConsumer: new Map((consumers ?? []).map(([name, n]) => [name, Number(n)])) };
}

describe('ledger outage (PostgreSQL stopped, a dispatcher restarted, PostgreSQL back)', function () {
  this.timeout(90000);
  let pg: PrivatePostgres | undefined;
  let stack: Stack | undefined;
  let ledger: PostgresLedger | undefined;
  const { user, online, closeAll } = usersOf(() => stack!);

  afterEach(async () => {
    closeAll();
    await stack?.stop();
    await ledger?.close();
    await pg?.destroy();
    stack = undefined;
    ledger = undefined;
    pg = undefined;
  });

  it('dispatch goes on, readyz says degraded, one batch parked per dispatcher; once back, every change is written once and the stream is empty', async () => {
    pg = await startPrivatePostgres();
    stack = await startStack({
      gateways: 2, dispatchers: 1, env: { DATABASE_URL: pg.url, LEDGER_CLAIM_IDLE_MS: 300, OFFER_TIMEOUT_MS: 60000, RATE_LIMIT_PER_S: 0 },
    });
    const s = stack;
    const db = new PostgresLedger({ url: pg.url });
    ledger = db;
    const dispatcherUrl = () => s.dispatchers[0]!.url;
    const processes = () => [dispatcherUrl(), ...s.gateways.map((g) => g.url)];
    const ids: string[] = [];

    /** A ride to dispatched: a driver on one gateway, its rider on the other. */
    let rides = 0;
    const ride = async (): Promise<Call> => {
      const i = rides++;
      const driver = await online(i % 2, `d-${i}`, placeAt(i));
      const rider = await user((i + 1) % 2, `rider-${i}`, 'passenger');
      const req = await rider.emit<Call>('call:request', { requestId: 'r', pickup: placeAt(i), dropoff: DROPOFF });
      if (!req.ok) throw new Error(`ride ${i}: ${JSON.stringify(req.error)}`);
      ids.push(req.data.id);
      await driver.next<Offer>('offer', (o) => o.callId === req.data.id);
      const won = await driver.emit<Call>('offer:accept', { callId: req.data.id });
      if (!won.ok) throw new Error(`ride ${i}: accept: ${JSON.stringify(won.error)}`);
      expect(won.data).to.include({ status: 'dispatched', driverId: `d-${i}` });
      await rider.next<Call>('call:status', (c) => c.id === req.data.id && c.status === 'dispatched');
      return won.data;
    };

    // Up: rides are written, every process says the ledger is ok.
    await ride();
    await ride();
    await until(async () => (await ledgerMismatchOf(db, s.redis, s.keys, ids)) === null, 'the first rides in the ledger', 20000, 50);
    for (const url of processes()) expect(await readyz(url), url).to.deep.equal({ code: 200, body: { status: 'ready', ledger: 'ok' } });

    // Down.
    await pg.stop();
    const during = await ride();
    for (const url of processes()) {
      await until(async () => {
        const r = await readyz(url);
        expect(r.code, `${url} stays ready`).to.equal(200);
        return r.body.ledger === 'degraded' && r.body.status === 'ready';
      }, `${url}/readyz to say the ledger is degraded`, 20000, 50);
    }
    // More than a batch of entries: calls nobody is near, requested and cancelled (2 entries each).
    const bulk = Array.from({ length: 300 }, (_, i) => i);
    for (let from = 0; from < bulk.length; from += 50) {
      await Promise.all(bulk.slice(from, from + 50).map(async (i) => {
        const who = { id: `bulk-${i}`, role: 'passenger' as const };
        const made = await rest(s.gateways[i % 2]!.url, 'POST', '/api/calls', who, { requestId: 'b', pickup: placeAt(40), dropoff: DROPOFF });
        expect(made.status, JSON.stringify(made.body)).to.equal(201);
        const id = (made.body as unknown as Call).id;
        ids.push(id);
        const cancelled = await rest(s.gateways[(i + 1) % 2]!.url, 'POST', `/api/calls/${id}/cancel`, who, {});
        expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);
      }));
    }
    await ride();

    // The backlog shows: entries wait in the stream, write errors are counted.
    await until(async () => ((await metric(dispatcherUrl(), 'dispatch_ledger_lag')) ?? 0) > BATCH, 'dispatch_ledger_lag to show the backlog', 10000, 50);
    expect(await metric(dispatcherUrl(), 'dispatch_ledger_oldest_seconds')).to.be.greaterThan(0);
    expect(await metric(dispatcherUrl(), 'dispatch_ledger_stream_bytes')).to.be.greaterThan(0);
    const errors = (await metric(dispatcherUrl(), 'dispatch_ledger_write_errors_total')) ?? 0;
    expect(errors).to.be.greaterThan(0);
    // The consumer retries its own batch and reads nothing on top of it: one more failed try, still at most one batch.
    await until(async () => ((await metric(dispatcherUrl(), 'dispatch_ledger_write_errors_total')) ?? 0) > errors, 'the consumer to try again', 20000, 50);
    const parked = await pending(s);
    const length = await s.redis.xlen(s.keys.ledger);
    expect(parked.byConsumer.size, 'one consumer').to.equal(1);
    expect(parked.total).to.be.within(1, BATCH);
    expect(length).to.be.greaterThan(BATCH);
    expect(length).to.be.at.least(parked.total);

    // Ledger reads are unavailable meanwhile; what Redis holds is still served.
    restError(await rest(s.gateways[0]!.url, 'GET', `/api/calls/${during.id}/history`, { id: 'ops', role: 'admin' }), 503, 'UNAVAILABLE');
    restError(await rest(s.gateways[1]!.url, 'GET', '/api/calls/closed', { id: 'ops', role: 'admin' }), 503, 'UNAVAILABLE');
    const range = `from=${new Date(Date.now() - 3600_000).toISOString()}&to=${new Date(Date.now() + 3600_000).toISOString()}`;
    restError(await rest(s.gateways[0]!.url, 'GET', `/api/calls/export?${range}`, { id: 'ops', role: 'admin' }), 503, 'UNAVAILABLE');
    expect(await rest(s.gateways[1]!.url, 'GET', `/api/calls/${during.id}`, { id: 'ops', role: 'admin' })).to.deep.include({ status: 200, body: during });

    // The dispatcher is restarted during the outage: the new one starts without the database, and dispatches.
    const [abandoned] = [...parked.byConsumer.keys()];
    const abandonedIds = ((await s.redis.xpending(s.keys.ledger, LEDGER_GROUP, '-', '+', BATCH, abandoned!)) as [string, ...unknown[]][]).map(([id]) => id);
    expect(abandonedIds).to.have.length(parked.total);
    const old = s.dispatchers.splice(0, 1)[0]!;
    await old.stop();
    await s.startDispatcher();
    expect(await readyz(dispatcherUrl())).to.deep.include({ code: 200 });
    await ride();
    await until(async () => (await readyz(dispatcherUrl())).body.ledger === 'degraded', 'the new dispatcher to say the ledger is degraded', 20000, 50);
    const during2 = await pending(s);
    for (const [name, n] of during2.byConsumer) expect(n, `${name}'s pending entries`).to.be.at.most(BATCH);

    // Back: everything is written, once, the abandoned batch included; the stream empties; all say ok.
    await pg.start();
    await until(async () => (await ledgerMismatchOf(db, s.redis, s.keys, ids)) === null, 'every call\'s full history in the ledger', 40000, 100);
    await until(async () => (await s.redis.xlen(s.keys.ledger)) === 0, 'the stream to be empty', 20000, 50);
    const after = await pending(s);
    expect(after.total).to.equal(0);
    expect(after.byConsumer.has(abandoned!), 'the stopped dispatcher\'s entries were claimed').to.equal(false);
    // Its entries, claimed by the new dispatcher, are the ledger's rows of those changes.
    const claimed = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM call_events WHERE stream_id = ANY($1)', [abandonedIds]);
    expect(claimed.rows).to.deep.equal([{ n: abandonedIds.length }]);
    for (const url of processes()) {
      await until(async () => (await readyz(url)).body.ledger === 'ok', `${url}/readyz to say the ledger is ok again`, 20000, 50);
    }
    expect(await metric(dispatcherUrl(), 'dispatch_ledger_lag')).to.equal(0);
    // Nothing twice: every change is one row (call, seq), and their number is what Redis counts.
    const rows = (await db.pool.query<{ n: number; distinct: number }>('SELECT count(*)::int AS n, count(DISTINCT (call_id, seq))::int AS distinct FROM call_events')).rows[0]!;
    let changes = 0;
    for (const id of ids) changes += (JSON.parse((await s.redis.hget(s.keys.call(id), 'json'))!) as Call).seq;
    expect(rows).to.deep.equal({ n: changes, distinct: changes });
    // The history route answers again, from either gateway.
    for (const gw of s.gateways) {
      const h = await rest(gw.url, 'GET', `/api/calls/${during.id}/history`, { id: 'ops', role: 'admin' });
      expect(h.status, JSON.stringify(h.body)).to.equal(200);
      expect((h.body.events as { status: string }[]).map((e) => e.status)).to.deep.equal(['requested', 'offered', 'dispatched']);
    }
  });
});
