/** One ride end to end across two gateways and a separate dispatcher. */
import { expect } from 'chai';
import type { Call, Offer, OfferRevoked } from '../protocol/index.js';
import { connect, DROPOFF, PICKUP, type TestClient } from './support/clients.js';
import { startStack, type Stack } from './support/stack.js';

describe('dispatch across nodes', () => {
  let stack: Stack;
  const clients: TestClient[] = [];
  const user = async (node: number, id: string, role: 'passenger' | 'driver') => {
    const c = await connect(stack.gateways[node]!.url, id, role);
    clients.push(c);
    return c;
  };

  /** Tests of a driver holding offers of several calls at once run with a cap above 1 (the default is 1). */
  const BROADCAST = { MATCH_STRATEGY: 'greedy', MAX_OFFERS_PER_DRIVER: '3' };
  const MULTI_OFFER = new Set(['revokes the winner\'s other offers with reason busy, and a busy driver cannot win another call']);

  beforeEach(async function () {
    stack = await startStack({ gateways: 2, dispatchers: 1, env: MULTI_OFFER.has(this.currentTest?.title ?? '') ? BROADCAST : {} });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await stack.stop();
  });

  it('offers a call to the nearest free drivers on another node; one accept wins; the rider is told each change', async () => {
    const near = await user(1, 'd-near', 'driver');
    const mid = await user(0, 'd-mid', 'driver');
    const far = await user(1, 'd-far', 'driver');
    const tooFar = await user(0, 'd-out', 'driver');
    expect(await near.emit('driver:online', { lat: PICKUP.lat + 0.001, lng: PICKUP.lng })).to.deep.equal({ ok: true, data: { status: 'available' } });
    await mid.emit('driver:online', { lat: PICKUP.lat + 0.002, lng: PICKUP.lng });
    await far.emit('driver:online', { lat: PICKUP.lat + 0.003, lng: PICKUP.lng });
    await tooFar.emit('driver:online', { lat: PICKUP.lat + 1, lng: PICKUP.lng }); // ~111 km away

    const rider = await user(0, 'rider-1', 'passenger');
    const req = await rider.emit<Call>('call:request', { requestId: 'r1', pickup: PICKUP, dropoff: DROPOFF });
    if (!req.ok) throw new Error(JSON.stringify(req.error));
    const call = req.data;
    expect(call).to.include({ passengerId: 'rider-1', status: 'requested', driverId: null, seq: 1 });

    const offers = await Promise.all([near, mid, far].map((d) => d.next<Offer>('offer', (o) => o.callId === call.id)));
    expect(offers[0]!.distanceM).to.be.lessThan(offers[1]!.distanceM);
    expect(offers[0]!.expiresAt).to.be.greaterThan(Date.now());
    expect(offers[0]).to.deep.include({ pickup: PICKUP, dropoff: DROPOFF });
    const offered = await rider.next<Call>('call:status', (c) => c.status === 'offered');
    expect(offered.seq).to.equal(2);

    const won = await mid.emit<Call>('offer:accept', { callId: call.id });
    expect(won.ok).to.equal(true);
    if (!won.ok) return;
    expect(won.data).to.include({ status: 'dispatched', driverId: 'd-mid', seq: 3 });

    const late = await near.emit('offer:accept', { callId: call.id });
    expect(late.ok).to.equal(false);
    if (!late.ok) {
      expect(late.error.code).to.equal('ALREADY_DISPATCHED');
      expect(late.error.message).to.contain('배차완료된 콜입니다');
    }
    const never = await tooFar.emit('offer:accept', { callId: call.id });
    expect(!never.ok && never.error.code).to.equal('NOT_OFFERED');

    const dispatched = await rider.next<Call>('call:status', (c) => c.status === 'dispatched');
    expect(dispatched).to.deep.equal(won.data);
    expect(await mid.next<Call>('trip:status', (c) => c.id === call.id)).to.deep.equal(won.data);
    for (const d of [near, far]) {
      expect(await d.next<OfferRevoked>('offer:revoked', (r) => r.callId === call.id)).to.deep.equal({ callId: call.id, reason: 'taken' });
    }
    expect(tooFar.all('offer')).to.have.length(0);

    // Reads answer from the same state.
    const got = await rider.emit<Call>('call:get', { callId: call.id });
    expect(got).to.deep.equal({ ok: true, data: won.data });
    expect(await rider.emit('call:active', {})).to.deep.equal({ ok: true, data: [won.data] });
  });

  it('a wave goes to the nearest free drivers anywhere within MATCH_RADIUS_M, however few are near (the search widens)', async () => {
    // Default MATCH_RADIUS_M 5000 and OFFER_WAVE_SIZE 3; the search starts at 625 m and doubles.
    const at = async (id: string, metres: number) => {
      const d = await user(metres % 2 === 0 ? 0 : 1, id, 'driver');
      const res = await d.emit('driver:online', { lat: PICKUP.lat + metres / 111_000, lng: PICKUP.lng });
      expect(res.ok, JSON.stringify(res)).to.equal(true);
      return d;
    };
    const wave = [await at('d-200', 200), await at('d-2001', 2001), await at('d-4500', 4500)];
    const next = await at('d-4801', 4801);
    const out = await at('d-6000', 6000);
    const rider = await user(0, 'rider-w', 'passenger');
    const req = await rider.emit<Call>('call:request', { requestId: 'rw', pickup: PICKUP, dropoff: DROPOFF });
    if (!req.ok) throw new Error(JSON.stringify(req.error));
    const offers = await Promise.all(wave.map((d) => d.next<Offer>('offer', (o) => o.callId === req.data.id)));
    expect(offers.map((o) => Math.round(o.distanceM / 100) * 100)).to.deep.equal([200, 2000, 4500]);
    await rider.next<Call>('call:status', (c) => c.id === req.data.id && c.status === 'offered');
    for (const d of [next, out]) {
      const res = await d.emit('offer:accept', { callId: req.data.id });
      expect(!res.ok && res.error.code, d.id).to.equal('NOT_OFFERED');
    }
  });

  it('revokes the winner\'s other offers with reason busy, and a busy driver cannot win another call', async () => {
    const a = await user(0, 'd-a', 'driver');
    const b = await user(1, 'd-b', 'driver');
    await a.emit('driver:online', PICKUP);
    await b.emit('driver:online', PICKUP);
    const r1 = await user(0, 'rider-a', 'passenger');
    const r2 = await user(1, 'rider-b', 'passenger');
    const c1 = await r1.emit<Call>('call:request', { requestId: 'x', pickup: PICKUP, dropoff: DROPOFF });
    const c2 = await r2.emit<Call>('call:request', { requestId: 'x', pickup: PICKUP, dropoff: DROPOFF });
    if (!c1.ok || !c2.ok) throw new Error('request failed');
    for (const d of [a, b]) for (const c of [c1.data, c2.data]) await d.next<Offer>('offer', (o) => o.callId === c.id);

    expect((await a.emit('offer:accept', { callId: c1.data.id })).ok).to.equal(true);
    expect(await a.next<OfferRevoked>('offer:revoked', (r) => r.callId === c2.data.id)).to.deep.equal({ callId: c2.data.id, reason: 'busy' });
    const again = await a.emit('offer:accept', { callId: c2.data.id });
    expect(!again.ok && again.error.code).to.equal('DRIVER_BUSY');
    expect((await b.emit('offer:accept', { callId: c2.data.id })).ok).to.equal(true);
  });

  it('a retried accept by the winner returns the same call', async () => {
    const d = await user(1, 'd-retry', 'driver');
    await d.emit('driver:online', PICKUP);
    const r = await user(0, 'rider-retry', 'passenger');
    const req = await r.emit<Call>('call:request', { requestId: 'x', pickup: PICKUP, dropoff: DROPOFF });
    if (!req.ok) throw new Error('request failed');
    await d.next('offer');
    const first = await d.emit<Call>('offer:accept', { callId: req.data.id });
    const second = await d.emit<Call>('offer:accept', { callId: req.data.id });
    expect(second).to.deep.equal(first);
  });

  it('positions near the poles, which the contract allows but Redis GEO cannot index, still dispatch', async () => {
    const d = await user(1, 'd-pole', 'driver');
    expect(await d.emit('driver:online', { lat: 90, lng: 10 })).to.deep.equal({ ok: true, data: { status: 'available' } });
    expect((await d.emit('driver:location', { lat: 89.9, lng: 10 })).ok).to.equal(true);
    const r = await user(0, 'rider-pole', 'passenger');
    const req = await r.emit<Call>('call:request', { requestId: 'p', pickup: { lat: 89.99, lng: 10 }, dropoff: DROPOFF });
    if (!req.ok) throw new Error(JSON.stringify(req.error));
    expect(req.data.pickup).to.deep.equal({ lat: 89.99, lng: 10 });
    await d.next<Offer>('offer', (o) => o.callId === req.data.id);
    expect((await d.emit<Call>('offer:accept', { callId: req.data.id })).ok).to.equal(true);
  });
});
