/**
 * The accept race: many drivers on both gateways accept at the same instant; exactly one wins,
 * and what Redis holds always matches the winning ack. Run with a driver's cap at 1 (the default)
 * and at 3, and, for drivers holding offers of several calls at once, in the old broadcast mode
 * (greedy, cap 12) as well.
 */
import { expect } from 'chai';
import type { Call, Response } from '../protocol/index.js';
import { connect, DROPOFF, placeAt, type TestClient } from './support/clients.js';
import { startStack, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

const LOSING_CODES = ['ALREADY_DISPATCHED', 'DRIVER_BUSY', 'OFFER_EXPIRED', 'NOT_OFFERED'];

const MODES: { name: string; env: Record<string, string>; cap: number }[] = [
  { name: 'batched, cap 1', env: { MAX_OFFERS_PER_DRIVER: '1' }, cap: 1 },
  { name: 'batched, cap 3', env: { MAX_OFFERS_PER_DRIVER: '3' }, cap: 3 },
  { name: 'greedy, cap 12 (the old broadcast waves)', env: { MATCH_STRATEGY: 'greedy', MAX_OFFERS_PER_DRIVER: '12' }, cap: 12 },
];

for (const mode of MODES) describe(`the accept race (${mode.name})`, function () {
  this.timeout(180000);
  let stack: Stack;

  before(async () => {
    stack = await startStack({ gateways: 2, dispatchers: 1, env: { OFFER_WAVE_SIZE: 12, MATCH_RADIUS_M: 2000, OFFER_TIMEOUT_MS: 60000, ...mode.env } });
  });
  after(async () => stack.stop());

  const stored = async (callId: string) => JSON.parse((await stack.redis.hget(stack.keys.call(callId), 'json')) as string) as Call;

  /** N drivers spread over both gateways, online at `place`. */
  async function drivers(tag: string, n: number, place: { lat: number; lng: number }): Promise<TestClient[]> {
    const out = await Promise.all(
      Array.from({ length: n }, (_, j) => connect(stack.gateways[j % 2]!.url, `${tag}-d${j}`, 'driver')),
    );
    await Promise.all(out.map((d, j) => d.emit('driver:online', { lat: place.lat + j * 0.0001, lng: place.lng })));
    return out;
  }

  async function oneRace(i: number): Promise<void> {
    const place = placeAt(i + 1);
    const n = 2 + (i % 9);
    const ds = await drivers(`race${i}`, n, place);
    const rider = await connect(stack.gateways[i % 2]!.url, `race${i}-rider`, 'passenger');
    try {
      const req = await rider.emit<Call>('call:request', { requestId: `q${i}`, pickup: place, dropoff: DROPOFF });
      if (!req.ok) throw new Error(`request failed: ${JSON.stringify(req.error)}`);
      const callId = req.data.id;
      await Promise.all(ds.map((d) => d.next('offer', (o: { callId: string }) => o.callId === callId)));

      const acks = await Promise.all(ds.map((d) => d.emit<Call>('offer:accept', { callId })));
      const winners = acks.flatMap((a, j) => (a.ok ? [j] : []));
      expect(winners, `race ${i} with ${n} drivers`).to.have.length(1);
      const winner = ds[winners[0]!]!.id;
      for (const a of acks) if (!a.ok) expect(a.error.code).to.equal('ALREADY_DISPATCHED');

      const won = acks[winners[0]!] as Extract<Response<Call>, { ok: true }>;
      expect(await stored(callId)).to.deep.equal(won.data);
      expect(won.data).to.include({ status: 'dispatched', driverId: winner });
      expect(await stack.redis.hget(stack.keys.driver(winner), 'callId')).to.equal(callId);
      expect(await stack.redis.zscore(stack.keys.freeDrivers, winner)).to.equal(null);
      const told = await rider.next<Call>('call:status', (c) => c.status === 'dispatched');
      expect(told.driverId).to.equal(winner);
    } finally {
      for (const c of [...ds, rider]) c.close();
    }
  }

  it(`exactly one of 2 to 10 drivers wins, over ${mode.cap === 3 ? 200 : 100} races`, async () => {
    const BATCH = 20;
    for (let start = 0; start < (mode.cap === 3 ? 200 : 100); start += BATCH) {
      await Promise.all(Array.from({ length: BATCH }, (_, k) => oneRace(start + k)));
    }
  });

  it('drivers holding offers for several calls at once: one winner per call, one trip per driver', async () => {
    for (let round = 0; round < 20; round++) {
      const place = placeAt(201 - round * 0.5);
      const m = 3 + (round % 4);
      const k = 2 + (round % (m - 1));
      const ds = await drivers(`multi${round}`, m, place);
      const riders = await Promise.all(
        Array.from({ length: k }, (_, j) => connect(stack.gateways[j % 2]!.url, `multi${round}-r${j}`, 'passenger')),
      );
      try {
        const calls = await Promise.all(
          riders.map(async (r) => {
            const res = await r.emit<Call>('call:request', { requestId: 'm', pickup: place, dropoff: DROPOFF });
            if (!res.ok) throw new Error(JSON.stringify(res.error));
            return res.data.id;
          }),
        );
        // Wait for every offer made (Redis says which) to reach its driver.
        const offered = await until(async () => {
          const made = await Promise.all(calls.map(async (id) => Object.keys(await stack.redis.hgetall(stack.keys.callOffers(id)))));
          return made.every((m) => m.length > 0) ? made : undefined;
        }, 'every call to be offered', 10000, 20);
        // (Drivers of earlier races nearby, disconnected but within their grace, may get some too.)
        await Promise.all(offered.flatMap((drivers, c) => ds.filter((x) => drivers.includes(x.id)).map((d) => d.next('offer', (o: { callId: string }) => o.callId === calls[c]))));
        for (const d of ds) expect(d.all('offer').length, `${d.id}'s live offers`).to.be.at.most(mode.cap);

        // Every driver accepts every call, all at once, each in its own order.
        const attempts = ds.flatMap((d, j) =>
          calls.map((_, c) => ({ driver: d.id, callId: calls[(c + j) % k]!, client: d })),
        );
        const acks = await Promise.all(attempts.map((a) => a.client.emit<Call>('offer:accept', { callId: a.callId })));

        const winsByCall = new Map<string, string[]>();
        const winsByDriver = new Map<string, string[]>();
        acks.forEach((ack, idx) => {
          const { driver, callId } = attempts[idx]!;
          if (ack.ok) {
            winsByCall.set(callId, [...(winsByCall.get(callId) ?? []), driver]);
            winsByDriver.set(driver, [...(winsByDriver.get(driver) ?? []), callId]);
          } else {
            expect(LOSING_CODES).to.include(ack.error.code);
          }
        });
        for (const id of calls) {
          const w = winsByCall.get(id) ?? [];
          // With the cap at 3 in rounds, a call's only offers may go to drivers who win another call first.
          if (mode.cap === 3 && w.length === 0) continue;
          expect(w, `call ${id} winners`).to.have.length(1);
          const s = await stored(id);
          expect(s).to.include({ status: 'dispatched', driverId: w[0] });
          expect(await stack.redis.hget(stack.keys.driver(w[0]!), 'callId')).to.equal(id);
        }
        for (const [, won] of winsByDriver) expect(won).to.have.length(1);
      } finally {
        for (const c of [...ds, ...riders]) c.close();
      }
    }
  });
});
