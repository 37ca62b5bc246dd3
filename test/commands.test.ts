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
import { makeCommands, type Commands } from '../server/redis/commands.js';
import { makeKeys, type Keys } from '../server/redis/keys.js';
import { ScriptError } from '../server/redis/scripts.js';
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

  beforeEach(() => {
    redis = new Redis(REDIS_URL);
    keys = makeKeys(randomPrefix());
    commands = makeCommands(redis, keys, { offerTimeoutMs: 60_000, waveSize: 2, radiusM: 5000, callTimeoutMs: 120_000 });
  });
  afterEach(async () => {
    await cleanPrefix(redis, keys.prefix);
    redis.disconnect();
  });

  /** A requested call of a new passenger. */
  async function requested(): Promise<Call> {
    const id = `c${++n}`;
    const r = await commands.request({
      callId: id, passengerId: `p${n}`, requestId: `r${n}`, pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlS: 60, safetyTimerMs: 60_000,
    });
    expect(r).to.deep.include({ created: true });
    expect(r.effects).to.deep.equal({ changed: [r.call], match: [id] });
    return r.call;
  }

  it('request: created once per requestId, the repeat returns the same call and queues its match again, a second open call is refused', async () => {
    const call = await requested();
    const again = await commands.request({
      callId: 'other', passengerId: call.passengerId, requestId: `r${n}`, pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlS: 60, safetyTimerMs: 60_000,
    });
    expect(again).to.deep.include({ created: false });
    expect(again.call).to.deep.equal(call);
    expect(again.effects, 'no second push, but the match is queued again (a no-op if queued)').to.deep.equal({ changed: [], match: [call.id] });
    const second = await refusedWith(commands.request({
      callId: 'third', passengerId: call.passengerId, requestId: 'new', pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlS: 60, safetyTimerMs: 60_000,
    }));
    expect(second).to.include({ code: 'INVALID_STATE', message: 'this passenger already has an active call' });
  });

  it('offer → accept → a late accept: who is told what, as data', async () => {
    await commands.driverOnline({ driverId: 'near', pos: near(0.001), now: Date.now() });
    await commands.driverOnline({ driverId: 'far', pos: near(0.01), now: Date.now() });
    const call = await requested();

    const wave = await commands.offer({ callId: call.id, now: clock() });
    if (wave.outcome !== 'offered') throw new Error(`expected a wave, got ${wave.outcome}`);
    expect(wave.offers.map((o) => o.driverId)).to.deep.equal(['near', 'far']);
    expect(wave.offers[0]!.offer).to.deep.include({ callId: call.id, pickup: PICKUP, dropoff: DROPOFF });
    expect(wave.effects.index).to.deep.equal([{ callId: call.id, drivers: ['near', 'far'], offers: wave.offers }]);
    expect(wave.effects.changed!.map((c) => c.status)).to.deep.equal(['offered']);
    // The follow-up indexes each offer; run twice, it writes the same again.
    const indexed = await commands.indexOffers(wave.effects.index![0]!);
    expect(indexed).to.deep.equal({ indexed: wave.offers, ended: [] });
    expect(await commands.indexOffers(wave.effects.index![0]!)).to.deep.equal(indexed);
    expect(wave.effects.revoked).to.deep.equal([{ callId: call.id, drivers: [], reason: 'expired' }]);

    const won = await commands.accept({ callId: call.id, driverId: 'near', now: clock() });
    expect(won.outcome).to.equal('won');
    expect(won.call).to.include({ status: 'dispatched', driverId: 'near' });
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

  it('a winner\'s other offers end `busy`; a back-out tells the driver who left and matches the call again', async () => {
    await commands.driverOnline({ driverId: 'd1', pos: near(0.001), now: Date.now() });
    const a = await requested();
    const b = await requested();
    for (const c of [a, b]) {
      const wave = await commands.offer({ callId: c.id, now: clock() });
      expect(wave.outcome).to.equal('offered');
      expect(wave.effects.index!.map((w) => w.drivers)).to.deep.equal([['d1']]);
      await commands.indexOffers(wave.effects.index![0]!); // what effects.ts does right after the step
    }
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
    expect(out.effects).to.deep.equal({ changed: [out.call], tripEnded: [{ driverId: 'd1', call: out.call }], rematch: [a.id], freed: ['d1'] });
  });

  it('an offer whose driver won another call before its index step ends `busy` there', async () => {
    await commands.driverOnline({ driverId: 'd2', pos: near(0.001), now: Date.now() });
    const a = await requested();
    const b = await requested();
    const waveA = await commands.offer({ callId: a.id, now: clock() });
    await commands.indexOffers(waveA.effects.index![0]!);
    const waveB = await commands.offer({ callId: b.id, now: clock() });
    // d2 wins a before b's offer reaches its index: the accept cannot see that offer.
    const won = await commands.accept({ callId: a.id, driverId: 'd2', now: clock() });
    expect(won.effects.endOffers![0]!.callIds).to.deep.equal([]);
    expect(await commands.indexOffers(waveB.effects.index![0]!)).to.deep.equal({ indexed: [], ended: [{ driverId: 'd2', state: 'busy' }] });
    expect(await redis.hget(keys.callOffers(b.id), 'd2')).to.equal('busy');
    expect(await redis.hexists(keys.driverOffers('d2'), b.id)).to.equal(0);
  });

  it('empty lists come back as lists (cjson encodes an empty table as {})', async () => {
    expect(await commands.waitingNear(['nobody'])).to.deep.equal([]);
    expect(await commands.dueTimers({ now: Date.now(), leaseMs: 1000, max: 10 })).to.deep.equal([]);
    expect(await commands.driverResync({ driverId: 'nobody', now: Date.now() })).to.deep.equal({ trip: null, offers: [] });
    const gone = await commands.offer({ callId: 'no-such-call', now: clock() });
    expect(gone).to.deep.equal({ outcome: 'gone', effects: {} });
  });

  it('a script Redis refuses is named with its keys and arguments, and its source never appears', async () => {
    await redis.set(keys.driver('broken'), 'not a hash');
    const err = await commands.driverOnline({ driverId: 'broken', pos: PICKUP, now: 1 }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ScriptError);
    const e = err as ScriptError;
    expect(e.script).to.equal('driverOnline');
    expect(e.message).to.match(/^script driverOnline: .*WRONGTYPE/);
    expect(e.keys).to.deep.equal([keys.driver('broken'), keys.freeDrivers]);
    expect(e.args).to.deep.equal(['broken', PICKUP.lat, PICKUP.lng, 1]);
    expect(JSON.stringify({ ...e, message: e.message, stack: e.stack })).to.not.match(/local function|redis\.call/);
    expect(e).to.not.have.property('command');
  });
});
