/**
 * The ledger's conformance suite, run against both backends (SQLite on a temp file, PostgreSQL in a
 * database of its own on the shared server): idempotent replay, the assignment fence (also with two
 * dispatchers writing at once), the reads the routes answer from, and the consumer claiming a dead
 * dispatcher's entries in a real stack.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Call, CallStatus } from '../protocol/index.js';
import { LEDGER_GROUP } from '../server/ledger/consumer.js';
import { PostgresLedger, sqlState } from '../server/ledger/postgres.js';
import { SqliteLedger } from '../server/ledger/sqlite.js';
import { decodeCursor, encodeCursor, type AssignmentConflict, type Cursor, type Ledger, type LedgerEntry } from '../server/ledger/store.js';
import { connect, DROPOFF, placeAt } from './support/clients.js';
import { freePort, tempDir } from './support/env.js';
import { BACKENDS, ledgerMismatch, ledgerMismatchOf, testStore, type TestStore } from './support/ledger.js';
import { mulberry32 } from './support/prng.js';
import { startStack } from './support/stack.js';
import { until } from './support/wait.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** Call `id` at `seq` in `status` (driver d1 while one is assigned), changed `seq` seconds after T0. */
function call(seq: number, status: CallStatus, o: { id?: string; driverId?: string | null } = {}): Call {
  const assigned = ['dispatched', 'arrived', 'in_progress', 'completed'].includes(status);
  return {
    id: o.id ?? 'c1', passengerId: 'p1', status, pickup: { lat: 1, lng: 2 }, dropoff: { lat: 3, lng: 4 },
    driverId: o.driverId === undefined ? (assigned ? 'd1' : null) : o.driverId, seq, createdAt: at(1000), updatedAt: at(seq * 1000),
  };
}
const entry = (streamId: string, c: Call, gen = 1): LedgerEntry => ({ streamId, call: c, gen });

/** Every row of call_events of the store, as [call id, seq] (to see that nothing was written twice). */
async function eventRows(store: TestStore): Promise<[string, number][]> {
  const rows = await store.query<{ callId: string; seq: number }>('SELECT call_id AS "callId", seq FROM call_events ORDER BY call_id, seq');
  return rows.map((r) => [r.callId, Number(r.seq)]);
}

/** The assignment fence's rows: call id → the drivers recorded for it (any generation). */
async function assignments(store: TestStore): Promise<Map<string, string[]>> {
  const rows = await store.query<{ callId: string; driverId: string }>('SELECT call_id AS "callId", driver_id AS "driverId" FROM call_assignments ORDER BY call_id, gen');
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.callId, [...(out.get(r.callId) ?? []), r.driverId]);
  return out;
}

/** Split `xs` into batches of `size`. */
const chunks = <T>(xs: T[], size: number): T[][] => Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));

function shuffled<T>(xs: T[], rnd: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('ledger errors', () => {
  it('the SQLSTATE is found through drizzle\'s wrapping (its retry of deadlocks and serialization failures depends on it)', () => {
    const driver = Object.assign(new Error('could not serialize access'), { code: '40001' });
    expect(sqlState(new Error('Failed query: insert …', { cause: driver }))).to.equal('40001');
    expect(sqlState(driver)).to.equal('40001');
    expect(sqlState(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).to.equal(undefined);
  });
});

for (const backend of BACKENDS) {
  describe(`ledger (${backend})`, function () {
    this.timeout(60000);
    let store: TestStore;
    let ledger: Ledger;

    beforeEach(async () => {
      store = await testStore(backend);
      ledger = store.open();
    });
    afterEach(async () => {
      await store.drop();
    });

    it('replaying entries, in any order and from another writer, writes each change once and keeps the latest call', async () => {
      const entries = [entry('1-0', call(1, 'requested')), entry('2-0', call(2, 'offered')), entry('3-0', call(3, 'dispatched'))];
      expect(await ledger.write(entries)).to.deep.equal([]);
      expect(await ledger.write([...entries].reverse())).to.deep.equal([]);
      expect(await ledger.write([entries[0]!, entries[0]!, entries[1]!])).to.deep.equal([]);
      // Another dispatcher re-delivered the same entries (a claim after a crash).
      const other = store.open();
      expect(await other.write([entries[2]!, entries[0]!])).to.deep.equal([]);
      expect(await ledger.write([])).to.deep.equal([]);

      expect(await eventRows(store)).to.deep.equal([['c1', 1], ['c1', 2], ['c1', 3]]);
      expect(await ledger.call('c1')).to.deep.equal(call(3, 'dispatched'));
      expect(await other.call('c1')).to.deep.equal(call(3, 'dispatched'));
      expect(await ledger.history('c1')).to.deep.equal([
        { seq: 1, status: 'requested', driverId: null, at: at(1000) },
        { seq: 2, status: 'offered', driverId: null, at: at(2000) },
        { seq: 3, status: 'dispatched', driverId: 'd1', at: at(3000) },
      ]);

      // An older change arriving after a newer one is recorded, but the call row keeps the newest.
      await ledger.write([entry('4-0', call(4, 'arrived'))]);
      await ledger.write([entry('3-0', call(3, 'dispatched')), entry('2-0', call(2, 'offered'))]);
      expect(await ledger.call('c1')).to.deep.equal(call(4, 'arrived'));
      expect((await ledger.history('c1')).map((e) => e.seq)).to.deep.equal([1, 2, 3, 4]);
      expect(await ledger.call('never')).to.equal(null);
      expect(await ledger.history('never')).to.deep.equal([]);
    });

    it('the fence refuses a second driver for the same call and generation, allows one after a back-out (gen 2); a replayed win is no conflict', async () => {
      const d2 = (seq: number, id = 'c1') => call(seq, 'dispatched', { id, driverId: 'd2' });
      await ledger.write([entry('1-0', call(1, 'requested')), entry('2-0', call(2, 'offered')), entry('3-0', call(3, 'dispatched'))]);
      // A failover lost d1's win: the call is offered again and d2 "wins" the same generation.
      const refused = await ledger.write([entry('9-0', d2(4))]);
      expect(refused).to.deep.equal([{ callId: 'c1', gen: 1, recorded: 'd1', refused: 'd2', streamId: '9-0' }]);
      expect(await ledger.call('c1')).to.deep.equal(call(3, 'dispatched'));
      expect((await ledger.history('c1')).map((e) => e.seq)).to.deep.equal([1, 2, 3]);
      // Another writer is fenced the same way.
      const other = store.open();
      expect(await other.write([entry('9-0', d2(4))])).to.deep.equal(refused);

      // Replaying d1's own win is no conflict, from either writer.
      expect(await ledger.write([entry('3-0', call(3, 'dispatched'))])).to.deep.equal([]);
      expect(await other.write([entry('3-0', call(3, 'dispatched'))])).to.deep.equal([]);
      // d1 backs out (the next generation), and d2 wins that one.
      expect(await ledger.write([entry('10-0', call(5, 'offered'), 2), entry('11-0', d2(6), 2)])).to.deep.equal([]);
      expect(await ledger.call('c1')).to.deep.equal(d2(6));
      expect((await ledger.history('c1')).map((e) => [e.seq, e.status, e.driverId])).to.deep.equal([
        [1, 'requested', null], [2, 'offered', null], [3, 'dispatched', 'd1'], [5, 'offered', null], [6, 'dispatched', 'd2'],
      ]);
      expect(await assignments(store)).to.deep.equal(new Map([['c1', ['d1', 'd2']]]));

      // Two winners of one generation in one batch: the first (by seq) is recorded, the other refused.
      const conflicts = await other.write([entry('21-0', d2(4, 'c2')), entry('20-0', call(3, 'dispatched', { id: 'c2' })), entry('19-0', call(1, 'requested', { id: 'c2' }))]);
      expect(conflicts).to.deep.equal([{ callId: 'c2', gen: 1, recorded: 'd1', refused: 'd2', streamId: '21-0' }]);
      expect(await ledger.call('c2')).to.deep.equal(call(3, 'dispatched', { id: 'c2' }));
    });

    it('two dispatchers writing at once, in different orders: no write fails, every call has one recorded assignment, one conflict per call', async function () {
      this.timeout(120000);
      const CALLS = 100;
      const a = store.open();
      const b = store.open();
      const rnd = mulberry32(0x1ed9e5);
      // Each round: the batches of writer A and of writer B, given the calls' entries of each writer.
      const plans: ((ea: LedgerEntry[], eb: LedgerEntry[]) => [LedgerEntry[][], LedgerEntry[][]])[] = [
        (ea, eb) => [chunks(ea, 30), chunks([...eb].reverse(), 30)],
        (ea, eb) => [[ea], chunks(shuffled(eb, rnd), 21)],
        (ea, eb) => [chunks(shuffled(ea, rnd), 39), chunks(shuffled(eb, rnd), 51)],
        (ea, eb) => [chunks([...ea].reverse(), 3), chunks(eb, 150)],
        // One batch each, every claim of both at the same moment.
        (ea, eb) => [[shuffled(ea, rnd)], [eb]],
      ];
      for (const [round, plan] of plans.entries()) {
        const ids = Array.from({ length: CALLS }, (_, i) => `r${round}-c${String(i).padStart(3, '0')}`);
        // Both dispatchers saw requested and offered; each believes its own driver won (Redis lost a winner).
        const of = (writer: 'a' | 'b', driverId: string) => ids.flatMap((id, i) => [
          entry(`${round}${i}1-${writer}`, call(1, 'requested', { id })),
          entry(`${round}${i}2-${writer}`, call(2, 'offered', { id })),
          entry(`${round}${i}3-${writer}`, call(3, 'dispatched', { id, driverId })),
        ]);
        const [batchesA, batchesB] = plan(of('a', 'd1'), of('b', 'd2'));
        const writeAll = async (l: Ledger, batches: LedgerEntry[][]) => {
          const out: AssignmentConflict[] = [];
          for (const batch of batches) out.push(...(await l.write(batch)));
          return out;
        };
        const [ca, cb] = await Promise.all([writeAll(a, batchesA), writeAll(b, batchesB)]);
        const conflicts = [...ca, ...cb];
        expect(conflicts, `round ${round}: conflicts`).to.have.length(CALLS);
        expect(new Set(conflicts.map((c) => c.callId)).size, `round ${round}: one conflict per call`).to.equal(CALLS);
        for (const c of ca) expect(c).to.include({ refused: 'd1', recorded: 'd2', gen: 1 });
        for (const c of cb) expect(c).to.include({ refused: 'd2', recorded: 'd1', gen: 1 });

        const fence = await assignments(store);
        const winners = new Map(conflicts.map((c) => [c.callId, c.recorded]));
        for (const id of ids) {
          expect(fence.get(id), `${id}: recorded assignments`).to.deep.equal([winners.get(id)]);
          const row = await a.call(id);
          expect(row, id).to.deep.include({ seq: 3, status: 'dispatched', driverId: winners.get(id) });
          expect((await b.history(id)).map((e) => [e.seq, e.driverId]), id).to.deep.equal([[1, null], [2, null], [3, winners.get(id)]]);
        }
      }
      const rows = await eventRows(store);
      expect(rows).to.have.length(plans.length * CALLS * 3);
      expect(new Set(rows.map((r) => r.join('/'))).size).to.equal(rows.length);
    });

    describe('reads', () => {
      const STATUSES: CallStatus[] = ['completed', 'cancelled', 'unfulfilled', 'dispatched'];
      /** 30 calls: created in pairs at the same millisecond, ended in groups at the same one; every fourth still open. */
      const calls = Array.from({ length: 30 }, (_, i): Call => {
        const status = STATUSES[i % 4]!;
        return {
          ...call(2, status, { id: `k${String(29 - i).padStart(2, '0')}` }),
          createdAt: at(Math.floor(i / 2) * 1000),
          updatedAt: at(100_000 + (i % 5) * 1000),
        };
      });
      const sortBy = (xs: Call[], key: (c: Call) => string, dir: 1 | -1) =>
        [...xs].sort((x, y) => (key(x) < key(y) ? -dir : key(x) > key(y) ? dir : x.id < y.id ? -dir : x.id > y.id ? dir : 0));
      const idsOf = (xs: Call[]) => xs.map((c) => c.id);

      beforeEach(async () => {
        await ledger.write(calls.flatMap((c, i) => [
          entry(`${i}-1`, { ...c, seq: 1, status: 'requested', driverId: null, updatedAt: c.createdAt }),
          entry(`${i}-2`, c),
        ]));
      });

      it('history lists every change of a call, oldest first', async () => {
        const c = calls[0]!;
        expect(await ledger.history(c.id)).to.deep.equal([
          { seq: 1, status: 'requested', driverId: null, at: c.createdAt },
          { seq: 2, status: c.status, driverId: c.driverId, at: c.updatedAt },
        ]);
      });

      it('closed: calls in a final status, the latest to end first, paged by cursor without duplicates or gaps', async () => {
        const ended = calls.filter((c) => c.status !== 'dispatched');
        const all = async (limit: number, status?: CallStatus) => {
          const seen: Call[] = [];
          let before: Cursor | undefined;
          for (let page = 0; page < 100; page++) {
            const rows = await ledger.closed({ status, limit, before });
            expect(rows.length, 'page size').to.be.at.most(limit);
            seen.push(...rows);
            if (rows.length < limit) return seen;
            const last = rows.at(-1)!;
            // The cursor goes through its text form, as the routes pass it.
            before = decodeCursor(encodeCursor({ at: last.updatedAt, id: last.id }));
          }
          throw new Error('closed never ended');
        };
        const want = sortBy(ended, (c) => c.updatedAt, -1);
        for (const limit of [1, 4, 7, 22, 200]) expect(idsOf(await all(limit)), `limit ${limit}`).to.deep.equal(idsOf(want));
        expect(await all(5)).to.deep.equal(want);
        for (const status of ['completed', 'cancelled', 'unfulfilled'] as const) {
          expect(idsOf(await all(3, status)), status).to.deep.equal(idsOf(want.filter((c) => c.status === status)));
        }
        // A cursor between two calls that ended at the same millisecond goes on with the second.
        const tie = want.findIndex((c, i) => want[i + 1]?.updatedAt === c.updatedAt);
        expect(tie).to.be.at.least(0);
        const rest = await ledger.closed({ limit: 100, before: { at: want[tie]!.updatedAt, id: want[tie]!.id } });
        expect(idsOf(rest)).to.deep.equal(idsOf(want.slice(tie + 1)));
      });

      it('exportPage: calls created in [from, to), oldest first, paged by cursor; times in any offset', async () => {
        // The range starts and ends on a pair created at the same millisecond: [from includes, to excludes].
        const from = at(3000);
        const to = at(11000);
        const want = sortBy(calls.filter((c) => c.createdAt >= from && c.createdAt < to), (c) => c.createdAt, 1);
        expect(want).to.have.length(16);
        const all = async (limit: number, f = from, t = to) => {
          const seen: Call[] = [];
          let after: Cursor | undefined;
          for (let page = 0; page < 100; page++) {
            const rows = await ledger.exportPage({ from: f, to: t, after, limit });
            expect(rows.length, 'page size').to.be.at.most(limit);
            seen.push(...rows);
            if (rows.length < limit) return seen;
            const last = rows.at(-1)!;
            after = decodeCursor(encodeCursor({ at: last.createdAt, id: last.id }));
          }
          throw new Error('export never ended');
        };
        for (const limit of [1, 3, 16, 1000]) expect(idsOf(await all(limit)), `limit ${limit}`).to.deep.equal(idsOf(want));
        expect(await all(5)).to.deep.equal(want);
        // The same instants written with a +09:00 offset select the same calls.
        const kst = (iso: string) => new Date(Date.parse(iso) + 9 * 3600_000).toISOString().replace('Z', '+09:00');
        expect(idsOf(await all(4, kst(from), kst(to)))).to.deep.equal(idsOf(want));
        expect(await ledger.exportPage({ from: at(-5000), to: at(0), limit: 10 })).to.deep.equal([]);
        expect(idsOf(await ledger.exportPage({ from: at(0), to: at(1), limit: 10 }))).to.deep.equal(idsOf(sortBy(calls.slice(0, 2), (c) => c.createdAt, 1)));
      });
    });

    it('cursors: encodeCursor round-trips through decodeCursor; text that is not a cursor decodes to undefined', () => {
      const c = { at: at(5), id: 'k07' };
      expect(decodeCursor(encodeCursor(c))).to.deep.equal(c);
      for (const bad of ['', 'zzz', Buffer.from('[1,2]').toString('base64url'), Buffer.from('["nope","x"]').toString('base64url')]) {
        expect(decodeCursor(bad), bad).to.equal(undefined);
      }
    });

    if (backend === 'sqlite') {
      it('uses WAL mode', async () => {
        const db = new SqliteLedger(join(tempDir(), 'w.db'));
        expect(db.sqlite.pragma('journal_mode', { simple: true })).to.equal('wal');
        await db.close();
      });
    }

    if (backend === 'postgres') {
      it('several instances on a fresh database, pinged at once, all answer and migrate once', async () => {
        const many = Array.from({ length: 8 }, () => store.open());
        await Promise.all(many.map((l) => l.ping()));
        const files = readdirSync(new URL('../server/ledger/migrations-pg/', import.meta.url)).filter((f) => f.endsWith('.sql'));
        expect(files.length).to.be.at.least(1);
        const rows = await store.query<{ n: number }>('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
        expect(rows).to.deep.equal([{ n: files.length }]);
        // Every instance writes and reads the one schema.
        await many[3]!.write([entry('1-0', call(1, 'requested'))]);
        expect(await many[5]!.call('c1')).to.deep.equal(call(1, 'requested'));
      });

      it('an instance made while the database is unreachable starts without error; its ping and writes fail (nothing thrown at construction)', async () => {
        const dead = new PostgresLedger({ url: `postgres://postgres@127.0.0.1:${await freePort()}/none` });
        try {
          const failed = await dead.ping().then(() => undefined, (err: unknown) => err);
          expect(failed).to.be.instanceOf(Error);
          expect(await dead.write([entry('1-0', call(1, 'requested'))]).then(() => 'written', () => 'failed')).to.equal('failed');
        } finally {
          await dead.close();
        }
      });
    }

    it('an entry the database refuses for its data goes to the dead-letter stream; the rest of its batch is written, the stream empties', async function () {
      this.timeout(30000);
      const stack = await startStack({ gateways: 1, dispatchers: 0, env: store.env });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const r = await connect(stack.gateways[0]!.url, `dl${i}`, 'passenger');
          // Free text with a NUL in it (the protocol allows it): written as it came, on both backends.
          const res = await r.emit<Call>('call:request', { requestId: 'x', pickup: { ...placeAt(i), address: `gate\u0000${i}` }, dropoff: DROPOFF });
          r.close();
          if (!res.ok) throw new Error(`request failed: ${JSON.stringify(res.error)}`);
          ids.push(res.data.id);
        }
        // An entry no script makes (a time that is not one, a seq that is not an integer): each backend refuses one of them.
        const bad = { ...call(1, 'requested', { id: 'bad' }), seq: 1.5, createdAt: 'not a time', updatedAt: 'not a time' };
        await stack.redis.xadd(stack.keys.ledger, '*', 'callId', 'bad', 'seq', '1', 'status', 'requested', 'call', JSON.stringify(bad), 'gen', '1');
        await stack.startDispatcher();
        await until(async () => (await ledgerMismatchOf(ledger, stack.redis, stack.keys, ids)) === null, 'the good entries to be written', 20000, 50);
        await until(async () => (await stack.redis.xlen(stack.keys.ledger)) === 0, 'the stream to empty', 10000, 50);
        expect((await ledger.call(ids[1]!))?.pickup.address).to.equal('gate\u00001');
        const dead = await stack.redis.xrange(stack.keys.ledgerDead, '-', '+');
        if (backend === 'postgres') expect(dead, 'PostgreSQL refuses a time that is not one').to.have.length(1);
        if (dead.length > 0) {
          expect(dead).to.have.length(1);
          const fields = dead[0]![1];
          expect(fields[fields.indexOf('streamId') + 1]).to.match(/^\d+-\d+$/);
          expect(fields[fields.indexOf('callId') + 1]).to.equal('bad');
          expect(await ledger.call('bad')).to.equal(null);
        } else {
          // SQLite takes any text and number: the entry is simply written.
          expect(backend).to.equal('sqlite');
        }
      } finally {
        await stack.stop();
      }
    });

    it('entries a dead dispatcher read but never acked are claimed and written by another', async function () {
      this.timeout(30000);
      const stack = await startStack({ gateways: 1, dispatchers: 0, env: { ...store.env, LEDGER_CLAIM_IDLE_MS: 300 } });
      try {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const r = await connect(stack.gateways[0]!.url, `lr${i}`, 'passenger');
          const res = await r.emit<Call>('call:request', { requestId: 'x', pickup: placeAt(i), dropoff: DROPOFF });
          r.close();
          if (!res.ok) throw new Error(`request failed: ${JSON.stringify(res.error)}`);
          ids.push(res.data.id);
        }
        // A consumer reads every entry and dies before writing or acking.
        await stack.redis.xgroup('CREATE', stack.keys.ledger, LEDGER_GROUP, '0', 'MKSTREAM');
        const read = (await stack.redis.xreadgroup('GROUP', LEDGER_GROUP, 'dead-dispatcher', 'COUNT', 100, 'STREAMS', stack.keys.ledger, '>')) as [string, unknown[]][];
        expect(read[0]![1]).to.have.length(5);

        await stack.startDispatcher();
        await until(async () => (await ledgerMismatchOf(ledger, stack.redis, stack.keys, ids)) === null, 'the claimed entries to be written', 20000, 50);
        if (backend === 'sqlite') expect(await ledgerMismatch(store.env.DB_PATH!, stack.redis, stack.keys, ids)).to.equal(null);
        await until(async () => ((await stack.redis.xpending(stack.keys.ledger, LEDGER_GROUP)) as [number])[0] === 0, 'no entry left pending', 10000, 50);
        await until(async () => (await stack.redis.xlen(stack.keys.ledger)) === 0, 'the written entries to leave the stream', 10000, 50);
      } finally {
        await stack.stop();
      }
    });
  });
}
