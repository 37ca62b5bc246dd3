/**
 * The command layer against real Redis, with no server: typed results with named fields, refusals
 * as protocol errors, what must follow each step as data (who is told what, which calls are matched
 * again), and a script Redis refuses named by its name and arguments, never its source.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Call } from '../protocol/index.js';
import { clock } from '../server/context.js';
import { cleanPrefix } from '../server/devkit/prefix.js';
import { AppError } from '../server/errors.js';
import { loadConfig } from '../server/config.js';
import { makeCommands, matchSettings, type Commands, type MatchSettings, type RoundCommit } from '../server/redis/commands.js';
import { makeKeys, type Keys } from '../server/redis/keys.js';
import { ScriptError } from '../server/redis/scripts.js';
import { regionOf, regionResolution } from '../server/region.js';
import { DROPOFF, PICKUP } from './support/clients.js';
import { randomPrefix, REDIS_URL } from './support/env.js';

const near = (dLat: number) => ({ lat: PICKUP.lat + dLat, lng: PICKUP.lng });

async function refusedWith(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err, 'a refusal').to.be.instanceOf(AppError);
  return err as AppError;
}

describe('the command layer', () => {
  let redis: Redis;
  let keys: Keys;
  let commands: Commands;
  let n = 0;
  const settings = (over: Partial<MatchSettings> = {}): MatchSettings => ({
    ...matchSettings(loadConfig({})), offerTimeoutMs: 60_000, waveSize: 2, radiusM: 5000, callTimeoutMs: 120_000, ...over,
  });
  const region = regionOf(PICKUP, regionResolution(loadConfig({})));

  beforeEach(() => {
    redis = new Redis(REDIS_URL);
    keys = makeKeys(randomPrefix());
    commands = makeCommands(redis, keys, settings());
  });
  afterEach(async () => {
    await cleanPrefix(redis, keys.prefix);
    redis.disconnect();
  });

  const online = (driverId: string, pos = PICKUP) => commands.driverOnline({ driverId, pos, now: Date.now(), vehicleClass: 'standard' });

  /** A requested call of a new passenger. */
  async function requested(): Promise<Call> {
    const id = `c${++n}`;
    const r = await commands.request({
      callId: id, passengerId: `p${n}`, requestId: `r${n}`, pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 60_000,
      region, vehicleClass: 'standard',
    });
    expect(r).to.deep.include({ created: true });
    return r.call;
  }

  /** A round over these calls, each offered to its nearest candidates (the read, a plain plan, the commit). */
  async function offerRound(callIds: string[], token = ''): Promise<RoundCommit> {
    const read = await commands.readRound({ callIds, now: Date.now() });
    const plan = { calls: read.calls.map((c) => ({ id: c.id, wave: c.wave, skip: c.skip, offers: c.candidates.slice(0, 2) })) };
    return commands.roundCommit({ region, token, plan, indexed: read.indexed, now: clock() });
  }

  it('request: created once per requestId, ready for its region (the first call of a quiet region queues its round), a second open call is refused', async () => {
    const first = await commands.request({
      callId: 'a', passengerId: 'pa', requestId: 'ra', pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 60_000, region, vehicleClass: 'standard',
    });
    expect(first.effects).to.deep.equal({ changed: [first.call], rounds: [region] });
    expect(first.call).to.include({ status: 'requested', vehicleClass: 'standard' });
    const call = await requested();
    expect(await redis.zrange(keys.regionReady(region), 0, -1)).to.deep.equal(['a', call.id]);
    const again = await commands.request({
      callId: 'other', passengerId: call.passengerId, requestId: `r${n}`, pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 60_000,
      region, vehicleClass: 'standard',
    });
    expect(again).to.deep.include({ created: false });
    expect(again.call).to.deep.equal(call);
    expect(again.effects, 'no second push, but its round is queued again (a lost trigger)').to.deep.equal({ changed: [], rounds: [region] });
    const second = await refusedWith(commands.request({
      callId: 'third', passengerId: call.passengerId, requestId: 'new', pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 60_000,
      region, vehicleClass: 'standard',
    }));
    expect(second).to.include({ code: 'INVALID_STATE', message: 'this passenger already has an active call' });
  });

  it('a round: its lease and fencing token; the commit of a round a newer one replaced writes nothing; the next call of a running region waits for its commit', async () => {
    await online('d1');
    const a = await requested();
    const begin = await commands.roundBegin({ region, now: Date.now(), leaseMs: 60_000, max: 10 });
    if (begin.outcome !== 'begun') throw new Error(begin.outcome);
    expect(begin.callIds).to.deep.equal([a.id]);
    expect(await commands.roundBegin({ region, now: Date.now(), leaseMs: 60_000, max: 10 })).to.deep.equal({ outcome: 'busy' });
    const b = await requested();
    // The region is scheduled: b's request queues no round, the running round's commit does.
    expect(await redis.zscore(keys.regions, region)).to.not.equal(null);
    // Its lease runs out and a newer round begins: the first round's commit writes nothing.
    await redis.del(keys.regionLease(region));
    const newer = await commands.roundBegin({ region, now: Date.now(), leaseMs: 60_000, max: 10 });
    if (newer.outcome !== 'begun') throw new Error(newer.outcome);
    expect(Number(newer.token)).to.equal(Number(begin.token) + 1);
    const stale = await offerRound([a.id], begin.token);
    expect(stale.outcome).to.equal('stale');
    expect(await redis.hgetall(keys.callOffers(a.id))).to.deep.equal({});
    const done = await offerRound([a.id], newer.token);
    expect(done.offered.map((o) => o.callId)).to.deep.equal([a.id]);
    expect(done.again, 'b is still ready').to.equal(true);
    expect(done.effects.rounds).to.deep.equal([region]);
    expect(await redis.exists(keys.regionLease(region))).to.equal(0);
    expect(await redis.zrange(keys.regionReady(region), 0, -1)).to.deep.equal([b.id]);
    // With nothing ready, a round finds its region empty and unschedules it.
    await redis.zrem(keys.regionReady(region), b.id);
    expect(await commands.roundBegin({ region, now: Date.now(), leaseMs: 60_000, max: 10 })).to.deep.equal({ outcome: 'empty' });
    expect(await redis.zscore(keys.regions, region)).to.equal(null);
  });

  it('offer → accept → a late accept: who is told what, as data; each offer is in its driver\'s index from the start', async () => {
    await online('near', near(0.001));
    await online('far', near(0.01));
    const call = await requested();

    const wave = await offerRound([call.id]);
    const offered = wave.offered[0]!;
    expect(offered.offers.map((o) => o.driverId)).to.deep.equal(['near', 'far']);
    expect(offered.offers[0]!.offer).to.deep.include({ callId: call.id, pickup: PICKUP, dropoff: DROPOFF, vehicleClass: 'standard' });
    expect(wave.effects.offers).to.deep.equal(offered.offers);
    expect(wave.effects.changed!.map((c) => c.status)).to.deep.equal(['offered']);
    expect(await redis.hkeys(keys.driverOffers('near'))).to.deep.equal([call.id]);
    expect(await redis.zrange(keys.regionReady(region), 0, -1)).to.deep.equal([]);

    const won = await commands.accept({ callId: call.id, driverId: 'near', now: clock() });
    expect(won.outcome).to.equal('won');
    expect(won.waves).to.equal(1);
    expect(won.call).to.include({ status: 'dispatched', driverId: 'near' });
    expect(won.call.pickupEstimate).to.deep.include({ distanceM: offered.offers[0]!.offer.distanceM, method: 'straight-line' });
    expect(won.effects.changed).to.deep.equal([won.call]);
    expect(won.effects.revoked).to.deep.equal([{ callId: call.id, drivers: ['far'], reason: 'taken' }]);

    const late = await refusedWith(commands.accept({ callId: call.id, driverId: 'far', now: clock() }));
    expect(late.code).to.equal('ALREADY_DISPATCHED');
    expect(late.message).to.contain('배차완료된 콜입니다');
    const retried = await commands.accept({ callId: call.id, driverId: 'near', now: clock() });
    expect(retried).to.deep.include({ outcome: 'retried', effects: { endOffers: [{ driverId: 'near', callIds: [], state: 'busy', reason: 'busy', wait: true }] } });

    const done = await commands.tripStep({ callId: call.id, driverId: 'near', to: 'arrived', now: clock() });
    expect(done.effects).to.deep.equal({ changed: [done.call], rematchSoon: [] });
    expect(await refusedWith(commands.tripStep({ callId: call.id, driverId: 'far', to: 'in_progress', now: clock() }))).to.include({ code: 'FORBIDDEN' });
  });

  it('the cap: a driver at MAX_OFFERS_PER_DRIVER live offers gets no more; an offer that ends frees it at once', async () => {
    await online('d1');
    const a = await requested();
    const b = await requested();
    const r = await offerRound([a.id, b.id]);
    expect(r.offered.map((o) => o.callId)).to.deep.equal([a.id]);
    // This plan offered d1 to both; the commit gave it a's offer, and then d1 was at its cap.
    expect(r.lost).to.deep.equal([b.id]);
    const read = await commands.readRound({ callIds: [b.id], now: Date.now() });
    expect(read.calls[0]!.candidates, 'a driver at its cap is no candidate').to.deep.equal([]);
    await commands.reject({ callId: a.id, driverId: 'd1', now: clock() });
    const again = await offerRound([b.id]);
    expect(again.offered.map((o) => o.offers.map((x) => x.driverId))).to.deep.equal([['d1']]);
  });

  it('the commit checks again what the read saw: a driver taken, or at its cap, since the read is not offered (the call stays ready)', async () => {
    await online('d1');
    const a = await requested();
    const b = await requested();
    const readB = await commands.readRound({ callIds: [b.id], now: Date.now() });
    expect(readB.calls[0]!.candidates.map((c) => c.driverId)).to.deep.equal(['d1']);
    // Meanwhile another round offers a to d1: its index entry is one the commit of b cannot check.
    await offerRound([a.id]);
    const plan = { calls: readB.calls.map((c) => ({ id: c.id, wave: c.wave, skip: c.skip, offers: c.candidates })) };
    const r = await commands.roundCommit({ region, token: '', plan, indexed: readB.indexed, now: clock() });
    expect(r.lost).to.deep.equal([b.id]);
    expect(await redis.hexists(keys.callOffers(b.id), 'd1')).to.equal(0);
    expect(await redis.zrange(keys.regionReady(region), 0, -1)).to.deep.equal([b.id]);
  });

  it('with a cap above 1, a winner\'s other offers end `busy`; a back-out tells the driver who left and matches the call again', async () => {
    commands = makeCommands(redis, keys, settings({ maxOffersPerDriver: 2 }));
    await online('d1');
    const a = await requested();
    const b = await requested();
    const r = await offerRound([a.id, b.id]);
    expect(r.offered.map((o) => o.offers.map((x) => x.driverId))).to.deep.equal([['d1'], ['d1']]);
    const won = await commands.accept({ callId: a.id, driverId: 'd1', now: clock() });
    expect(won.effects.revoked).to.deep.equal([{ callId: a.id, drivers: [], reason: 'taken' }]);
    // The other call's offer is another call's key: a follow-up ends it, safe to run twice.
    expect(won.effects.endOffers).to.deep.equal([{ driverId: 'd1', callIds: [b.id], state: 'busy', reason: 'busy', wait: true }]);
    const late = await refusedWith(commands.accept({ callId: b.id, driverId: 'd1', now: clock() }));
    expect(late.code, 'before the follow-up runs, the busy driver still cannot win a second call').to.equal('DRIVER_BUSY');
    expect(await commands.endDriverOffers({ driverId: 'd1', callIds: [b.id], state: 'busy', now: Date.now() })).to.deep.equal([b.id]);
    expect(await commands.endDriverOffers({ driverId: 'd1', callIds: [b.id], state: 'busy', now: Date.now() })).to.deep.equal([]);
    expect(await redis.hget(keys.callOffers(b.id), 'd1')).to.equal('busy');

    const out = await commands.tripCancel({ callId: a.id, driverId: 'd1', now: clock() });
    expect(out.call).to.include({ status: 'offered', driverId: null });
    expect(out.call).to.not.have.property('pickupEstimate');
    expect(out.effects).to.deep.equal({ changed: [out.call], tripEnded: [{ driverId: 'd1', call: out.call }], rematch: [a.id], freed: ['d1'] });
  });

  it('a vehicle class: a driver of another class is never a candidate, and the commit checks it again', async () => {
    await commands.driverOnline({ driverId: 'big', pos: PICKUP, now: Date.now(), vehicleClass: 'large', profile: { name: 'Kim', vehicle: { class: 'large', plate: '12가3456' } } });
    await online('std');
    const call = await requested();
    const read = await commands.readRound({ callIds: [call.id], now: Date.now() });
    expect(read.calls[0]!.candidates.map((c) => c.driverId)).to.deep.equal(['std']);
    const plan = { calls: [{ id: call.id, wave: 0, skip: false, offers: [{ driverId: 'big', distanceM: 0 }] }] };
    const r = await commands.roundCommit({ region, token: '', plan, indexed: new Map(), now: clock() });
    expect(r.lost).to.deep.equal([call.id]);
  });

  it('the search widens past the nearest drivers when they are of another class or at their cap', async () => {
    for (let j = 0; j < 10; j++) await online(`s${j}`);
    await commands.driverOnline({ driverId: 'prem', pos: near(0.005), now: Date.now(), vehicleClass: 'premium' });
    const id = 'premium-call';
    await commands.request({
      callId: id, passengerId: 'pp', requestId: 'rp', pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 60_000, region, vehicleClass: 'premium',
    });
    const read = await commands.readRound({ callIds: [id], now: Date.now() });
    expect(read.calls[0]!.candidates.map((c) => c.driverId), 'the premium driver 550 m away behind ten standard ones').to.deep.equal(['prem']);
    // Every standard driver at the pickup holds a live offer (cap 1): a free one 1.1 km away is found.
    await online('far', near(0.01));
    const calls = [];
    for (let j = 0; j < 10; j++) calls.push(await requested());
    const plan = { calls: calls.map((c, j) => ({ id: c.id, wave: 0, skip: false, offers: [{ driverId: `s${j}`, distanceM: 0 }] })) };
    expect((await commands.roundCommit({ region, token: '', plan, indexed: new Map(), now: clock() })).offered).to.have.length(10);
    const next = await requested();
    const again = await commands.readRound({ callIds: [next.id], now: Date.now() });
    expect(again.calls[0]!.candidates.map((c) => c.driverId)).to.deep.equal(['far']);
  });

  it('a driver freed near many waiting calls finds those of every class (its own among them)', async () => {
    const waitingOf = async (vehicleClass: string) => {
      const id = `w${++n}`;
      await commands.request({
        callId: id, passengerId: `p${n}`, requestId: `r${n}`, pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 60_000, region, vehicleClass,
      });
      const r = await offerRound([id]);
      expect(r.waiting).to.deep.equal([id]);
      return id;
    };
    for (let j = 0; j < 12; j++) await waitingOf('standard');
    const prem = await waitingOf('premium');
    await commands.driverOnline({ driverId: 'prem', pos: PICKUP, now: Date.now(), vehicleClass: 'premium' });
    const near10 = await commands.waitingNear(['prem']);
    expect(near10).to.include(prem);
    expect(near10).to.have.length(11);
  });

  it('a call the read found not ready (a wave live) but whose wave ended before the commit stays ready, never waiting', async () => {
    await online('d1');
    const call = await requested();
    await offerRound([call.id]);
    const read = await commands.readRound({ callIds: [call.id], now: Date.now() });
    expect(read.calls[0]!.skip).to.equal(true);
    await commands.reject({ callId: call.id, driverId: 'd1', now: clock() });
    const plan = { calls: read.calls.map((c) => ({ id: c.id, wave: c.wave, skip: c.skip, offers: [] })) };
    const r = await commands.roundCommit({ region, token: '', plan, indexed: read.indexed, now: clock() });
    expect(r).to.deep.include({ waiting: [], lost: [call.id] });
  });

  it('regions: a call near its region\'s edge gets the nearest driver across it; when two regions\' rounds want one driver, the first commit gets it and the other call goes to its next round', async () => {
    // Small regions (H3 resolution 9, edges of about 170 m): find two pickups 60 m apart in different cells.
    let a = PICKUP;
    let b = PICKUP;
    for (let k = 0; k < 200; k++) {
      a = { lat: PICKUP.lat + k * 0.0003, lng: PICKUP.lng };
      b = { lat: a.lat + 0.00054, lng: a.lng };
      if (regionOf(a, 9) !== regionOf(b, 9)) break;
    }
    const [ra, rb] = [regionOf(a, 9), regionOf(b, 9)];
    expect(ra).to.not.equal(rb);
    const make = async (id: string, pickup: typeof a, r: string) => {
      await commands.request({ callId: id, passengerId: `p-${id}`, requestId: id, pickup, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 60_000, region: r, vehicleClass: 'standard' });
    };
    await make('ca', a, ra);
    await make('cb', b, rb);
    // One driver, in b's region, right at b: the nearest driver of both calls.
    await online('shared', b);
    await online('spare', { lat: a.lat - 0.004, lng: a.lng });
    const begin = async (r: string) => {
      const x = await commands.roundBegin({ region: r, now: Date.now(), leaseMs: 60_000, max: 10 });
      if (x.outcome !== 'begun') throw new Error(x.outcome);
      return x;
    };
    const [ba, bb] = [await begin(ra), await begin(rb)];
    const [readA, readB] = [await commands.readRound({ callIds: ba.callIds, now: Date.now() }), await commands.readRound({ callIds: bb.callIds, now: Date.now() })];
    expect(readA.calls[0]!.candidates[0]!.driverId, 'across the edge').to.equal('shared');
    expect(readB.calls[0]!.candidates[0]!.driverId).to.equal('shared');
    const planOf = (read: typeof readA) => ({ calls: read.calls.map((c) => ({ id: c.id, wave: c.wave, skip: c.skip, offers: c.candidates.slice(0, 1) })) });
    const first = await commands.roundCommit({ region: rb, token: bb.token, plan: planOf(readB), indexed: readB.indexed, now: clock() });
    const second = await commands.roundCommit({ region: ra, token: ba.token, plan: planOf(readA), indexed: readA.indexed, now: clock() });
    expect(first.offered.map((o) => o.offers[0]!.driverId)).to.deep.equal(['shared']);
    expect(second).to.deep.include({ lost: ['ca'], again: true });
    expect(second.effects.rounds).to.deep.equal([ra]);
    // Its next round offers it to the next driver free for it.
    const next = await begin(ra);
    const readNext = await commands.readRound({ callIds: next.callIds, now: Date.now() });
    const third = await commands.roundCommit({ region: ra, token: next.token, plan: planOf(readNext), indexed: readNext.indexed, now: clock() });
    expect(third.offered.map((o) => o.offers[0]!.driverId)).to.deep.equal(['spare']);
  });

  it('a wave\'s timer: its offers end `expired` and the call is ready again; an older wave\'s timer does nothing', async () => {
    await online('d1');
    const call = await requested();
    await offerRound([call.id]);
    expect(await commands.waveEnd({ callId: call.id, now: clock(), fence: 0 })).to.deep.equal({ outcome: 'stale', effects: {} });
    const end = await commands.waveEnd({ callId: call.id, now: clock(), fence: 1 });
    expect(end).to.deep.equal({
      outcome: 'ready', effects: { revoked: [{ callId: call.id, drivers: ['d1'], reason: 'expired' }], freed: ['d1'], rounds: [region] },
    });
    expect(await redis.zrange(keys.regionReady(region), 0, -1)).to.deep.equal([call.id]);
    expect(await commands.ready({ callId: call.id, now: Date.now() })).to.deep.include({ outcome: 'ready' });
  });

  it('empty lists come back as lists (cjson encodes an empty table as {})', async () => {
    expect(await commands.waitingNear(['nobody'])).to.deep.equal([]);
    expect(await commands.dueTimers({ now: Date.now(), leaseMs: 1000, max: 10 })).to.deep.equal([]);
    expect(await commands.dueRegions({ now: Date.now(), leaseMs: 1000, max: 10 })).to.deep.equal([]);
    expect(await commands.driverResync({ driverId: 'nobody', now: Date.now() })).to.deep.equal({ trip: null, offers: [], suspended: null });
    expect(await commands.waveEnd({ callId: 'no-such-call', now: clock(), fence: 0 })).to.deep.equal({ outcome: 'gone', effects: {} });
    const r = await offerRound(['no-such-call']);
    expect(r).to.deep.include({ outcome: 'committed', offered: [], waiting: [], lost: [], again: false });
  });

  it('a script Redis refuses is named with its keys and arguments, and its source never appears', async () => {
    await redis.set(keys.driver('broken'), 'not a hash');
    const err = await commands.driverOnline({ driverId: 'broken', pos: PICKUP, now: 1, vehicleClass: 'standard' }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ScriptError);
    const e = err as ScriptError;
    expect(e.script).to.equal('driverOnline');
    expect(e.message).to.match(/^script driverOnline: .*WRONGTYPE/);
    expect(e.keys).to.deep.equal([keys.driver('broken'), keys.freeDrivers, keys.onlineDrivers]);
    expect(e.args).to.deep.equal(['broken', PICKUP.lat, PICKUP.lng, 1, 'standard', '']);
    expect(JSON.stringify({ ...e, message: e.message, stack: e.stack })).to.not.match(/local function|redis\.call/);
    expect(e).to.not.have.property('command');
  });
  it('the ops reads: onlineDrivers and openCalls read the two indexes and one pipeline, bounded by max; indexCounts counts them', async () => {
    await online('d1', near(0.001));
    await online('d2', near(0.002));
    const a = await requested();
    const b = await requested();
    await commands.driverAway({ driverId: 'd2', connects: '0', now: 5 });
    const drivers = await commands.onlineDrivers({ max: 10 });
    expect(drivers.map((d) => d.driverId).sort()).to.deep.equal(['d1', 'd2']);
    expect(drivers.find((d) => d.driverId === 'd1')).to.deep.include({
      status: 'available', lat: near(0.001).lat, lng: PICKUP.lng, callId: null, vehicleClass: 'standard', awaySince: null,
    });
    expect(drivers.find((d) => d.driverId === 'd2')!.awaySince).to.equal(5);
    expect(await commands.onlineDrivers({ max: 1 })).to.have.length(1);
    expect(await commands.onlineDrivers({ max: 0 })).to.deep.equal([]);
    expect((await commands.openCalls({ max: 10 })).map((c) => c.id)).to.deep.equal([a.id, b.id]);
    expect((await commands.openCalls({ max: 1 })).map((c) => c.id), 'the oldest first').to.deep.equal([a.id]);
    await offerRound([a.id]);
    const won = await commands.accept({ callId: a.id, driverId: 'd1', now: clock() });
    expect(won.outcome).to.equal('won');
    expect((await commands.onlineDrivers({ max: 10 })).find((d) => d.driverId === 'd1')).to.deep.include({ status: 'busy', callId: a.id });
    expect(await commands.indexCounts({ max: 100 })).to.deep.equal({
      drivers: { online: 2, available: 1, busy: 1, away: 1, counted: 2 },
      calls: { open: 2, byStatus: { dispatched: 1, requested: 1 }, counted: 2 },
    });
    await commands.cancel({ callId: b.id, userId: 'admin', role: 'admin', reason: '', now: clock() });
    await commands.driverOffline({ driverId: 'd2', now: Date.now() });
    expect(await commands.indexCounts({ max: 1 })).to.deep.equal({
      drivers: { online: 1, available: 0, busy: 1, away: 0, counted: 1 },
      calls: { open: 1, byStatus: { dispatched: 1 }, counted: 1 },
    });
  });
});
