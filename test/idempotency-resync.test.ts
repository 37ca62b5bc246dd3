/**
 * Idempotent requests (one requestId → one call, matched through its region's rounds, however
 * often and however concurrently it is sent), one live call per passenger, and the resync every
 * (re)connect gets on whichever gateway it lands (with a driver holding several live offers: a cap
 * of 3, greedy waves).
 */
import { Queue } from 'bullmq';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Call, Offer, OfferRevoked, Response } from '../protocol/index.js';
import { QUEUE } from '../server/redis/keys.js';
import { DROPOFF, PICKUP, rest, type TestClient } from './support/clients.js';
import { startStack, type Stack } from './support/stack.js';
import { usersOf } from './support/users.js';

const near = (i: number) => ({ lat: PICKUP.lat + 0.001 * i, lng: PICKUP.lng });

describe('idempotency and resync', () => {
  let stack: Stack;
  let redis: Redis;
  const { gw, user, online, closeAll } = usersOf(() => stack);
  const request = async (c: TestClient, requestId: string) => {
    const res = await c.emit<Call>('call:request', { requestId, pickup: PICKUP, dropoff: DROPOFF });
    if (!res.ok) throw new Error(JSON.stringify(res.error));
    return res.data;
  };

  /** Every job of this stack's dispatch queue, whatever its state. */
  const jobs = async () => {
    const queue = new Queue(QUEUE.dispatch, { connection: redis, prefix: stack.env.KEY_PREFIX });
    try {
      const all = await queue.getJobs(['active', 'waiting', 'waiting-children', 'prioritized', 'paused', 'delayed', 'completed', 'failed']);
      return all.map((j) => ({ id: j.id, name: j.name, callId: (j.data as { callId?: string }).callId, region: (j.data as { region?: string }).region }));
    } finally {
      await queue.close();
    }
  };
  /** One call exists, and the queue holds only rounds of its region, no job of any other call. */
  const expectOneCallMatched = async (callId: string) => {
    const all = await jobs();
    const region = await redis.hget(stack.keys.call(callId), 'region');
    expect(all.filter((j) => j.name === 'round').length, JSON.stringify(all)).to.be.greaterThan(0);
    for (const j of all) {
      expect(j.name, JSON.stringify(j)).to.equal('round');
      expect(j.region, JSON.stringify(j)).to.equal(region);
    }
    expect(await redis.zrange(stack.keys.allCalls, 0, -1)).to.deep.equal([callId]);
  };
  const listOf = async (passenger: string) => {
    const res = await rest(gw(0), 'GET', '/api/calls', { id: passenger, role: 'passenger' });
    expect(res.status).to.equal(200);
    return res.body.items as Call[];
  };

  beforeEach(async function () {
    const resync = this.currentTest?.parent?.title.startsWith('resync') ?? false;
    stack = await startStack({
      gateways: 2, dispatchers: 1, env: { OFFER_TIMEOUT_MS: 60000, ...(resync ? { MATCH_STRATEGY: 'greedy', MAX_OFFERS_PER_DRIVER: '3' } : {}) },
    });
    redis = new Redis(stack.env.REDIS_URL as string, { maxRetriesPerRequest: null });
  });
  afterEach(async () => {
    closeAll();
    redis.disconnect();
    await stack.stop();
  });

  describe('requestId', () => {
    it('the same requestId sent twice gives the same call, matched through its region\'s rounds only', async () => {
      const rider = await user(0, 'rider-1', 'passenger');
      const first = await request(rider, 'same');
      expect(first).to.include({ passengerId: 'rider-1', status: 'requested', seq: 1 });
      const second = await request(rider, 'same');
      expect(second).to.deep.equal(first);
      // And from the rider's socket on the other gateway.
      const elsewhere = await user(1, 'rider-1', 'passenger');
      expect(await request(elsewhere, 'same')).to.deep.equal(first);

      expect(await listOf('rider-1')).to.deep.equal([first]);
      expect(await rider.emit('call:active', {})).to.deep.equal({ ok: true, data: [first] });
      await expectOneCallMatched(first.id);
    });

    it('ten concurrent sends of one requestId, from two sockets on two gateways, give one call and equal acks', async () => {
      const a = await user(0, 'rider-1', 'passenger');
      const b = await user(1, 'rider-1', 'passenger');
      const payload = { requestId: 'burst', pickup: PICKUP, dropoff: DROPOFF };
      const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? b : a).emit<Call>('call:request', payload)));
      const first = acks[0]!;
      if (!first.ok) throw new Error(JSON.stringify(first.error));
      for (const ack of acks) expect(ack).to.deep.equal(first);
      expect(first.data).to.include({ passengerId: 'rider-1', status: 'requested', seq: 1 });

      expect(await listOf('rider-1')).to.deep.equal([first.data]);
      await expectOneCallMatched(first.data.id);
      // Both of the rider's sockets are told about the one call.
      for (const s of [a, b]) expect(await s.next<Call>('call:status', (c) => c.id === first.data.id)).to.deep.equal(first.data);
    });

    it('a passenger has at most one live call: a second requestId → INVALID_STATE', async () => {
      const rider = await user(0, 'rider-1', 'passenger');
      const first = await request(rider, 'one');
      const second = await rider.emit('call:request', { requestId: 'two', pickup: PICKUP, dropoff: DROPOFF });
      expect(second.ok).to.equal(false);
      if (!second.ok) expect(second.error.code).to.equal('INVALID_STATE');
      // The refused requestId was not remembered as a call either.
      const retried = await rider.emit('call:request', { requestId: 'two', pickup: PICKUP, dropoff: DROPOFF });
      expect(!retried.ok && retried.error.code).to.equal('INVALID_STATE');
      expect(await listOf('rider-1')).to.deep.equal([first]);
      await expectOneCallMatched(first.id);
    });

    it('ten concurrent different requestIds, from two gateways, give exactly one call', async () => {
      const a = await user(0, 'rider-1', 'passenger');
      const b = await user(1, 'rider-1', 'passenger');
      const acks: Response<Call>[] = await Promise.all(Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? b : a).emit<Call>('call:request', { requestId: `r${i}`, pickup: PICKUP, dropoff: DROPOFF })));
      const won = acks.flatMap((x) => (x.ok ? [x.data] : []));
      expect(won, JSON.stringify(acks)).to.have.length(1);
      for (const x of acks) if (!x.ok) expect(x.error.code).to.equal('INVALID_STATE');

      const call = won[0]!;
      expect(await listOf('rider-1')).to.deep.equal([call]);
      expect(await a.emit('call:active', {})).to.deep.equal({ ok: true, data: [call] });
      await expectOneCallMatched(call.id);
    });
  });

  describe('resync on reconnect to the other gateway', () => {
    it('a rider gets call:status of its active call right after connecting, with the changes it missed', async () => {
      const driver = await online(1, 'd-1', near(1));
      const rider = await user(0, 'rider-1', 'passenger');
      const call = await request(rider, 'r');
      await driver.next<Offer>('offer', (o) => o.callId === call.id);
      rider.close();

      const back = await user(1, 'rider-1', 'passenger');
      const resynced = await back.next<Call>('call:status', (c) => c.id === call.id);
      const got = await back.emit<Call>('call:get', { callId: call.id });
      expect(got).to.deep.equal({ ok: true, data: resynced });
      expect(resynced.status).to.equal('offered');
      back.close();

      // Dispatched while the rider is away: the next connect (on the first gateway) catches up.
      const won = await driver.emit<Call>('offer:accept', { callId: call.id });
      if (!won.ok) throw new Error(JSON.stringify(won.error));
      const again = await user(0, 'rider-1', 'passenger');
      expect(await again.next<Call>('call:status', (c) => c.id === call.id)).to.deep.equal(won.data);
      expect(again.all<Call>('call:status')[0]).to.deep.equal(won.data);
    });

    it('a driver gets each live offer again, then after winning its trip:status, and never the offers that ended', async () => {
      const d1 = await online(0, 'd-1', near(1));
      const d2 = await online(1, 'd-2', near(2));
      const r1 = await user(0, 'rider-1', 'passenger');
      const r2 = await user(1, 'rider-2', 'passenger');
      const c1 = await request(r1, 'x');
      const c2 = await request(r2, 'x');
      const sent = new Map<string, Offer>();
      for (const c of [c1, c2]) sent.set(c.id, await d1.next<Offer>('offer', (o) => o.callId === c.id));
      for (const c of [c1, c2]) await d2.next<Offer>('offer', (o) => o.callId === c.id);

      // d-1 drops and comes back on the other gateway: both live offers again, as first sent.
      d1.close();
      const d1b = await user(1, 'd-1', 'driver');
      for (const c of [c1, c2]) expect(await d1b.next<Offer>('offer', (o) => o.callId === c.id)).to.deep.equal(sent.get(c.id));

      // d-2 wins c1: d-1's offer of c1 ends (taken), d-2's offer of c2 ends (busy).
      const won1 = await d2.emit<Call>('offer:accept', { callId: c1.id });
      if (!won1.ok) throw new Error(JSON.stringify(won1.error));
      expect(await d1b.next<OfferRevoked>('offer:revoked', (r) => r.callId === c1.id)).to.deep.equal({ callId: c1.id, reason: 'taken' });
      expect(await d2.next<OfferRevoked>('offer:revoked', (r) => r.callId === c2.id)).to.deep.equal({ callId: c2.id, reason: 'busy' });

      // d-1 again, on the first gateway: only c2 is still offered.
      d1b.close();
      const d1c = await user(0, 'd-1', 'driver');
      expect(await d1c.next<Offer>('offer', (o) => o.callId === c2.id)).to.deep.equal(sent.get(c2.id));
      // Everything the resync sent is in before the answer to a later event.
      expect((await d1c.emit('call:get', { callId: c2.id })).ok).to.equal(true);
      expect(d1c.all<Offer>('offer').map((o) => o.callId)).to.deep.equal([c2.id]);
      expect(d1c.all('trip:status')).to.deep.equal([]);

      // d-2, the winner, comes back on the first gateway: its trip, and no offer.
      d2.close();
      const d2b = await user(0, 'd-2', 'driver');
      expect(await d2b.next<Call>('trip:status', (c) => c.id === c1.id)).to.deep.equal(won1.data);
      expect((await d2b.emit('call:get', { callId: c1.id })).ok).to.equal(true);
      expect(d2b.all('offer')).to.deep.equal([]);
      expect(d2b.all('trip:status')).to.deep.equal([won1.data]);

      // d-1 wins c2, drops, and comes back on the second gateway: its trip, and no offer.
      const won2 = await d1c.emit<Call>('offer:accept', { callId: c2.id });
      if (!won2.ok) throw new Error(JSON.stringify(won2.error));
      expect(won2.data).to.include({ status: 'dispatched', driverId: 'd-1' });
      d1c.close();
      const d1d = await user(1, 'd-1', 'driver');
      expect(await d1d.next<Call>('trip:status', (c) => c.id === c2.id)).to.deep.equal(won2.data);
      expect((await d1d.emit('call:get', { callId: c2.id })).ok).to.equal(true);
      expect(d1d.all('offer')).to.deep.equal([]);
      expect(d1d.all('trip:status')).to.deep.equal([won2.data]);
    });
  });
});
