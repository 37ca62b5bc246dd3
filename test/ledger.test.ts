/** The SQLite ledger: consumer-group delivery, claims of a dead consumer's entries, idempotent replay. */
import { expect } from 'chai';
import { join } from 'node:path';
import type { Call } from '../protocol/index.js';
import { LEDGER_GROUP } from '../server/ledger/consumer.js';
import { openLedger } from '../server/ledger/db.js';
import { writeEntries } from '../server/ledger/writer.js';
import { connect, DROPOFF, placeAt } from './support/clients.js';
import { tempDir } from './support/env.js';
import { ledgerMismatch, readLedger } from './support/ledger.js';
import { startStack } from './support/stack.js';
import { until } from './support/wait.js';

const call = (seq: number, status: Call['status']): Call => ({
  id: 'c1', passengerId: 'p1', status, pickup: { lat: 1, lng: 2 }, dropoff: { lat: 3, lng: 4 },
  driverId: status === 'dispatched' ? 'd1' : null, seq, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: `2026-01-01T00:00:0${seq}.000Z`,
});

describe('ledger', () => {
  it('replaying entries, in any order, writes each change once and keeps the latest call', () => {
    const path = join(tempDir(), 'l.db');
    const db = openLedger(path);
    const entries = [
      { streamId: '1-0', call: call(1, 'requested'), gen: 1 },
      { streamId: '2-0', call: call(2, 'offered'), gen: 1 },
      { streamId: '3-0', call: call(3, 'dispatched'), gen: 1 },
    ];
    writeEntries(db, entries);
    writeEntries(db, [...entries].reverse());
    writeEntries(db, [entries[0]!]);
    db.$client.close();
    const { events, calls } = readLedger(path);
    expect(events.map((e) => [e.seq, e.status])).to.deep.equal([[1, 'requested'], [2, 'offered'], [3, 'dispatched']]);
    expect(calls).to.deep.equal([call(3, 'dispatched')]);
  });

  it('refuses a second assignment of the same call and generation (Redis forgot a winner), and allows one after a back-out', () => {
    const path = join(tempDir(), 'a.db');
    const db = openLedger(path);
    const other = (seq: number): Call => ({ ...call(seq, 'dispatched'), driverId: 'd2' });
    writeEntries(db, [{ streamId: '1-0', call: call(1, 'requested'), gen: 1 }, { streamId: '3-0', call: call(3, 'dispatched'), gen: 1 }]);
    // A failover lost d1's win: the call is offered again and d2 "wins" the same generation.
    const conflicts = writeEntries(db, [{ streamId: '9-0', call: other(4), gen: 1 }]);
    expect(conflicts).to.deep.equal([{ callId: 'c1', gen: 1, recorded: 'd1', refused: 'd2', streamId: '9-0' }]);
    expect(readLedger(path).calls[0]).to.include({ driverId: 'd1', seq: 3 });
    // Replaying d1's own win is no conflict; a win after a back-out (next generation) is recorded.
    expect(writeEntries(db, [{ streamId: '3-0', call: call(3, 'dispatched'), gen: 1 }])).to.deep.equal([]);
    expect(writeEntries(db, [{ streamId: '10-0', call: other(6), gen: 2 }])).to.deep.equal([]);
    expect(readLedger(path).calls[0]).to.include({ driverId: 'd2', seq: 6 });
    db.$client.close();
  });

  it('uses WAL mode', () => {
    const db = openLedger(join(tempDir(), 'w.db'));
    expect(db.$client.pragma('journal_mode', { simple: true })).to.equal('wal');
    db.$client.close();
  });

  it('entries a dead dispatcher read but never acked are claimed and written by another', async function () {
    this.timeout(30000);
    const stack = await startStack({ gateways: 1, dispatchers: 0, env: { LEDGER_CLAIM_IDLE_MS: 300 } });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await connect(stack.gateways[0]!.url, `lr${i}`, 'passenger');
        const res = await r.emit<Call>('call:request', { requestId: 'x', pickup: placeAt(i), dropoff: DROPOFF });
        r.close();
        if (!res.ok) throw new Error('request failed');
        ids.push(res.data.id);
      }
      // A consumer reads every entry and dies before writing or acking.
      await stack.redis.xgroup('CREATE', stack.keys.ledger, LEDGER_GROUP, '0', 'MKSTREAM');
      const read = (await stack.redis.xreadgroup('GROUP', LEDGER_GROUP, 'dead-dispatcher', 'COUNT', 100, 'STREAMS', stack.keys.ledger, '>')) as [string, unknown[]][];
      expect(read[0]![1]).to.have.length(5);

      await stack.startDispatcher();
      await until(async () => (await ledgerMismatch(stack.env.DB_PATH!, stack.redis, stack.keys, ids)) === null, 'the claimed entries to be written', 20000, 50);
      await until(async () => ((await stack.redis.xpending(stack.keys.ledger, LEDGER_GROUP)) as [number])[0] === 0, 'no entry left pending', 10000, 50);
    } finally {
      await stack.stop();
    }
  });
});
