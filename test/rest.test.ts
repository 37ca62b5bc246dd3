/** The REST mirror of the socket actions: same service, same codes, same pushes. */
import { expect } from 'chai';
import { Call, type Offer, type OfferRevoked, type Response, type UserRole } from '../protocol/index.js';
import { DROPOFF, PICKUP, placeAt, rest, restError } from './support/clients.js';
import { startStack, type Stack } from './support/stack.js';
import { usersOf } from './support/users.js';

type RestResult = Awaited<ReturnType<typeof rest>>;
const as = (id: string, role: UserRole) => ({ id, role });

/** The body of a REST answer with this status, checked against the Call schema. */
function callOf(res: RestResult, status: number): Call {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  return Call.parse(res.body);
}


const ids = (calls: { id: string }[]) => calls.map((c) => c.id).sort();

describe('REST', () => {
  let stack: Stack;
  const { gw, user, online, closeAll } = usersOf(() => stack);
  const post = (node: number, passenger: string, body: unknown) => rest(gw(node), 'POST', '/api/calls', as(passenger, 'passenger'), body);
  const list = async (node: number, who: { id: string; role: UserRole }, query = '') => {
    const res = await rest(gw(node), 'GET', `/api/calls${query}`, who);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.have.all.keys('items');
    return (res.body.items as unknown[]).map((c) => Call.parse(c));
  };

  beforeEach(async () => {
    stack = await startStack({ gateways: 2, dispatchers: 1, env: { OFFER_TIMEOUT_MS: 60000, OFFER_WAVE_SIZE: 4 } });
  });
  afterEach(async () => {
    closeAll();
    await stack.stop();
  });

  it('POST /api/calls answers 201 with a new call, then 200 with the same call on a repeated requestId (on any gateway)', async () => {
    const body = { requestId: 'rest-1', pickup: { ...PICKUP, address: '서울역' }, dropoff: DROPOFF };
    const created = callOf(await post(0, 'rider-1', body), 201);
    expect(created).to.include({ passengerId: 'rider-1', status: 'requested', driverId: null, seq: 1 });
    expect(created).to.deep.include({ pickup: body.pickup, dropoff: DROPOFF });
    expect(Number.isNaN(Date.parse(created.createdAt))).to.equal(false);

    const again = callOf(await post(1, 'rider-1', body), 200);
    expect(again).to.deep.equal(created);
    // The requestId is the key: a repeat with a changed body still gets the same call back.
    expect(callOf(await post(0, 'rider-1', { ...body, pickup: placeAt(1) }), 200)).to.deep.equal(created);
    expect(callOf(await rest(gw(1), 'GET', `/api/calls/${created.id}`, as('rider-1', 'passenger')), 200)).to.deep.equal(created);
    expect(await list(0, as('rider-1', 'passenger'))).to.deep.equal([created]);

    // Another passenger's identical requestId is its own key.
    const other = callOf(await post(1, 'rider-2', body), 201);
    expect(other.id).to.not.equal(created.id);
    expect(other.passengerId).to.equal('rider-2');
  });

  it('a repeated requestId returns the call as it is now, after it has moved on', async () => {
    const d = await online(0, 'd-1', PICKUP);
    const created = callOf(await post(1, 'rider-1', { requestId: 'r', pickup: PICKUP, dropoff: DROPOFF }), 201);
    await d.next<Offer>('offer', (o) => o.callId === created.id);
    const now = callOf(await rest(gw(0), 'GET', `/api/calls/${created.id}`, as('rider-1', 'passenger')), 200);
    expect(now).to.include({ id: created.id, status: 'offered' });
    expect(callOf(await post(0, 'rider-1', { requestId: 'r', pickup: PICKUP, dropoff: DROPOFF }), 200)).to.deep.equal(now);
  });

  it('a second requestId while the first call is active → 409 INVALID_STATE, over REST and over the socket', async () => {
    const rider = await user(1, 'rider-1', 'passenger');
    const first = callOf(await post(0, 'rider-1', { requestId: 'one', pickup: PICKUP, dropoff: DROPOFF }), 201);
    restError(await post(1, 'rider-1', { requestId: 'two', pickup: PICKUP, dropoff: DROPOFF }), 409, 'INVALID_STATE');
    const viaSocket = await rider.emit('call:request', { requestId: 'three', pickup: PICKUP, dropoff: DROPOFF });
    expect(!viaSocket.ok && viaSocket.error.code).to.equal('INVALID_STATE');
    expect(ids(await list(0, as('rider-1', 'passenger')))).to.deep.equal([first.id]);
    // The first requestId still answers with the first call.
    expect(callOf(await post(1, 'rider-1', { requestId: 'one', pickup: PICKUP, dropoff: DROPOFF }), 200).id).to.equal(first.id);
  });

  it('GET /api/calls/:id: its passenger, an offered driver and an admin read it; others get 403; a missing call 404', async () => {
    const offered = await online(1, 'd-near', PICKUP);
    await online(0, 'd-far', placeAt(5)); // online, but far: never offered this call
    const created = callOf(await post(0, 'rider-1', { requestId: 'g', pickup: PICKUP, dropoff: DROPOFF }), 201);
    await offered.next<Offer>('offer', (o) => o.callId === created.id);

    const path = `/api/calls/${created.id}`;
    const mine = callOf(await rest(gw(1), 'GET', path, as('rider-1', 'passenger')), 200);
    expect(mine).to.include({ id: created.id, status: 'offered' });
    expect(callOf(await rest(gw(0), 'GET', path, as('d-near', 'driver')), 200)).to.deep.equal(mine);
    expect(callOf(await rest(gw(1), 'GET', path, as('ops', 'admin')), 200)).to.deep.equal(mine);
    restError(await rest(gw(0), 'GET', path, as('d-far', 'driver')), 403, 'FORBIDDEN');
    restError(await rest(gw(0), 'GET', path, as('rider-2', 'passenger')), 403, 'FORBIDDEN');
    restError(await rest(gw(1), 'GET', '/api/calls/no-such-call', as('ops', 'admin')), 404, 'NOT_FOUND');
    // The socket answers from the same state.
    expect(await offered.emit<Call>('call:get', { callId: created.id })).to.deep.equal({ ok: true, data: mine });

    // Once assigned, the driver still reads it.
    const won = callOf(await rest(gw(1), 'POST', `${path}/accept`, as('d-near', 'driver')), 200);
    expect(callOf(await rest(gw(0), 'GET', path, as('d-near', 'driver')), 200)).to.deep.equal(won);
  });

  it('GET /api/calls: a passenger sees only its own calls, an admin all; status and limit filter', async () => {
    // Only rider-b's call has a driver near it: it is dispatched, the others stay `requested`.
    const d = await online(0, 'd-b', placeAt(1));
    const riders = ['rider-a', 'rider-b', 'rider-c'];
    const made: Call[] = [];
    for (const [i, r] of riders.entries()) made.push(callOf(await post(i % 2, r, { requestId: 'l', pickup: placeAt(i), dropoff: DROPOFF }), 201));
    await d.next<Offer>('offer', (o) => o.callId === made[1]!.id);
    const dispatched = callOf(await rest(gw(1), 'POST', `/api/calls/${made[1]!.id}/accept`, as('d-b', 'driver')), 200);
    const current = [made[0]!, dispatched, made[2]!];

    for (const [i, r] of riders.entries()) {
      expect(await list(i % 2, as(r, 'passenger'))).to.deep.equal([current[i]]);
    }
    const admin = as('ops', 'admin');
    const all = await list(0, admin);
    expect(ids(all)).to.deep.equal(ids(current));
    for (const c of all) expect(c).to.deep.equal(current.find((x) => x.id === c.id));

    expect(await list(1, admin, '?status=dispatched')).to.deep.equal([dispatched]);
    expect(ids(await list(0, admin, '?status=requested'))).to.deep.equal(ids([made[0]!, made[2]!]));
    expect(await list(1, admin, '?status=completed')).to.deep.equal([]);
    expect(await list(0, as('rider-b', 'passenger'), '?status=requested')).to.deep.equal([]);
    expect(await list(1, as('rider-b', 'passenger'), '?status=dispatched')).to.deep.equal([dispatched]);
    expect(await list(0, as('rider-a', 'passenger'), '?status=dispatched')).to.deep.equal([]);

    expect(await list(1, admin, '?limit=2')).to.deep.equal(all.slice(0, 2));
    expect(await list(0, admin, '?limit=1')).to.deep.equal(all.slice(0, 1));
    expect(await list(0, admin, '?limit=200')).to.deep.equal(all);
    const one = await list(1, admin, '?status=requested&limit=1');
    expect(one).to.have.length(1);
    expect(one[0]!.status).to.equal('requested');
    expect(await list(0, as('someone-new', 'passenger'))).to.deep.equal([]);
  });

  it('POST /api/calls/:id/accept: the first driver wins; the next gets 409 ALREADY_DISPATCHED (배차완료된 콜입니다); everyone is told', async () => {
    const rider = await user(1, 'rider-1', 'passenger');
    const d1 = await online(0, 'd-1', { lat: PICKUP.lat + 0.001, lng: PICKUP.lng });
    const d2 = await online(1, 'd-2', { lat: PICKUP.lat + 0.002, lng: PICKUP.lng });
    await online(0, 'd-out', placeAt(5));
    const created = callOf(await post(0, 'rider-1', { requestId: 'a', pickup: PICKUP, dropoff: DROPOFF }), 201);
    for (const d of [d1, d2]) await d.next<Offer>('offer', (o) => o.callId === created.id);
    const path = `/api/calls/${created.id}/accept`;

    const won = callOf(await rest(gw(1), 'POST', path, as('d-1', 'driver')), 200);
    expect(won).to.include({ id: created.id, status: 'dispatched', driverId: 'd-1' });
    expect(won.seq).to.be.greaterThan(created.seq);

    const lost = restError(await rest(gw(0), 'POST', path, as('d-2', 'driver')), 409, 'ALREADY_DISPATCHED');
    expect(lost).to.contain('배차완료된 콜입니다');
    restError(await rest(gw(1), 'POST', path, as('d-out', 'driver')), 409, 'NOT_OFFERED');
    restError(await rest(gw(0), 'POST', '/api/calls/no-such-call/accept', as('d-2', 'driver')), 404, 'NOT_FOUND');
    // A retried accept by the winner is answered with the same call.
    expect(callOf(await rest(gw(0), 'POST', path, as('d-1', 'driver')), 200)).to.deep.equal(won);

    expect(await rider.next<Call>('call:status', (c) => c.status === 'dispatched')).to.deep.equal(won);
    expect(await d1.next<Call>('trip:status', (c) => c.id === created.id)).to.deep.equal(won);
    expect(await d2.next<OfferRevoked>('offer:revoked', (r) => r.callId === created.id)).to.deep.equal({ callId: created.id, reason: 'taken' });
    expect(callOf(await rest(gw(1), 'GET', `/api/calls/${created.id}`, as('rider-1', 'passenger')), 200)).to.deep.equal(won);
  });

  it('REST accepts and socket accepts of the same call, on both gateways at once, have exactly one winner', async () => {
    for (let round = 0; round < 6; round++) {
      const at = placeAt(10 + round);
      const names = [0, 1, 2, 3].map((i) => `d${round}-${i}`);
      const drivers = await Promise.all(names.map((n, i) => online(i % 2, n, { lat: at.lat + 0.001 * (i + 1), lng: at.lng })));
      const created = callOf(await post(round % 2, `rider-${round}`, { requestId: 'race', pickup: at, dropoff: DROPOFF }), 201);
      await Promise.all(drivers.map((d) => d.next<Offer>('offer', (o) => o.callId === created.id)));

      // Drivers 0 and 1 accept over REST (one per gateway), 2 and 3 over their sockets (one per gateway).
      const answers: Response<Call>[] = await Promise.all(names.map(async (n, i) => {
        if (i >= 2) return drivers[i]!.emit<Call>('offer:accept', { callId: created.id });
        const res = await rest(gw((i + round) % 2), 'POST', `/api/calls/${created.id}/accept`, as(n, 'driver'));
        return res.status === 200 ? { ok: true as const, data: Call.parse(res.body) } : { ok: false as const, error: res.body.error as { code: 'ALREADY_DISPATCHED'; message: string } };
      }));

      const winners = answers.flatMap((a, i) => (a.ok ? [i] : []));
      expect(winners, `round ${round}: ${JSON.stringify(answers)}`).to.have.length(1);
      const winner = names[winners[0]!]!;
      for (const a of answers) {
        if (a.ok) {
          expect(a.data).to.include({ status: 'dispatched', driverId: winner });
        } else {
          expect(a.error.code).to.equal('ALREADY_DISPATCHED');
          expect(a.error.message).to.contain('배차완료된 콜입니다');
        }
      }
      expect(callOf(await rest(gw(0), 'GET', `/api/calls/${created.id}`, as('ops', 'admin')), 200)).to.include({ status: 'dispatched', driverId: winner });
    }
  });

  it('a call created over REST is pushed to the rider\'s socket as call:status and dispatched like any other', async () => {
    const rider = await user(1, 'rider-1', 'passenger');
    const d = await online(1, 'd-1', PICKUP);
    const created = callOf(await post(0, 'rider-1', { requestId: 'push', pickup: PICKUP, dropoff: DROPOFF }), 201);
    expect(await rider.next<Call>('call:status', (c) => c.id === created.id && c.seq === created.seq)).to.deep.equal(created);
    const offer = await d.next<Offer>('offer', (o) => o.callId === created.id);
    expect(offer).to.deep.include({ pickup: PICKUP, dropoff: DROPOFF });
    const offered = await rider.next<Call>('call:status', (c) => c.id === created.id && c.status === 'offered');
    expect(offered.seq).to.be.greaterThan(created.seq);

    const won = await d.emit<Call>('offer:accept', { callId: created.id });
    if (!won.ok) throw new Error(JSON.stringify(won.error));
    expect(won.data).to.include({ status: 'dispatched', driverId: 'd-1' });
    expect(await rider.next<Call>('call:status', (c) => c.id === created.id && c.status === 'dispatched')).to.deep.equal(won.data);
    expect(await rider.emit('call:active', {})).to.deep.equal({ ok: true, data: [won.data] });
  });

  it('GET /healthz and GET /readyz answer 200 on every node', async () => {
    for (const node of [...stack.gateways, ...stack.dispatchers]) {
      for (const path of ['/healthz', '/readyz']) {
        const res = await rest(node.url, 'GET', path);
        expect(res.status, `${node.url}${path} ${JSON.stringify(res.body)}`).to.equal(200);
      }
    }
  });
});
