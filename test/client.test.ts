/**
 * The protocol's typed client helper (protocol/client.ts) against a real stack: connecting (hello,
 * refused tokens and protocol versions), `send` resolving with typed ack data or throwing the
 * coded DispatchError, and `request` reporting lost acks (ACK_TIMEOUT, DISCONNECTED) without
 * throwing.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Server } from 'socket.io';
import {
  ackLost, connectClient, DispatchClient, DispatchError, type ClientOptions,
} from '../protocol/client.js';
import { PROTOCOL_VERSION, type Call, type Offer } from '../protocol/index.js';
import { DROPOFF, PICKUP, token } from './support/clients.js';
import { startStack, type Stack } from './support/stack.js';

/** The DispatchError a promise rejects with (failing when it resolves or throws something else). */
async function rejection(p: Promise<unknown>): Promise<DispatchError> {
  const settled = await p.then((v: unknown) => ({ resolved: v }), (err: unknown) => ({ err }));
  if ('resolved' in settled) throw new Error(`expected a DispatchError, got ${JSON.stringify(settled.resolved)}`);
  expect(settled.err).to.be.instanceOf(DispatchError);
  return settled.err as DispatchError;
}

describe('protocol client helper', () => {
  let stack: Stack;
  const clients: DispatchClient[] = [];
  const url = (node: number) => stack.gateways[node]!.url;
  /** A connected client for `id`, closed after the test. */
  const user = async (node: number, id: string, role: 'passenger' | 'driver' | 'admin', o: Partial<ClientOptions> = {}) => {
    const c = await connectClient(url(node), { token: await token(id, role), connectTimeoutMs: 10000, ...o });
    clients.push(c);
    return c;
  };
  /** The server's hello on `c`: already received, or the next one. */
  const helloOf = async (c: DispatchClient) => c.hello ?? (await c.next('hello', () => true, 10000));

  beforeEach(async () => {
    stack = await startStack({ gateways: 2, dispatchers: 1 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await stack.stop();
  });

  describe('connecting', () => {
    it('connectClient with a good token resolves, and hello carries the protocol version and the user', async () => {
      const rider = await user(0, 'rider-hello', 'passenger');
      expect(rider.connected).to.equal(true);
      expect(await helloOf(rider)).to.deep.equal({ protocol: PROTOCOL_VERSION, userId: 'rider-hello', role: 'passenger' });
      expect(rider.hello).to.deep.equal({ protocol: PROTOCOL_VERSION, userId: 'rider-hello', role: 'passenger' });

      // A token function is asked for a token on every handshake.
      let asked = 0;
      const driver = await user(1, 'driver-hello', 'driver', {
        token: () => {
          asked++;
          return token('driver-hello', 'driver');
        },
      });
      expect(asked).to.equal(1);
      expect(await helloOf(driver)).to.deep.equal({ protocol: PROTOCOL_VERSION, userId: 'driver-hello', role: 'driver' });
    });

    it('a bad token is refused: CONNECT_FAILED with the server code UNAUTHORIZED', async () => {
      const err = await rejection(connectClient(url(0), { token: 'not-a-jwt', connectTimeoutMs: 10000 }));
      expect(err.code).to.equal('CONNECT_FAILED');
      expect(err.message).to.equal('UNAUTHORIZED');

      const fromFunction = await rejection(connectClient(url(1), { token: () => 'aaa.bbb.ccc', connectTimeoutMs: 10000 }));
      expect(fromFunction.code).to.equal('CONNECT_FAILED');
      expect(fromFunction.message).to.equal('UNAUTHORIZED');
    });

    it("auth.protocol '2.0.0' is refused with VALIDATION_FAILED; '1.4.2' and none are accepted", async () => {
      const refused = new DispatchClient(url(0), { token: await token('rider-v2', 'passenger'), protocol: '2.0.0' });
      clients.push(refused);
      const connectError = new Promise<Error & { data?: { code?: string; message?: string } }>((resolve) => {
        refused.socket.once('connect_error', resolve);
      });
      const err = await rejection(refused.ready(10000));
      expect(err.code).to.equal('CONNECT_FAILED');
      expect(err.message).to.equal('VALIDATION_FAILED');
      const raw = await connectError;
      expect(raw.message).to.equal('VALIDATION_FAILED');
      expect(raw.data?.code).to.equal('VALIDATION_FAILED');
      expect(raw.data?.message).to.contain('2.0.0');
      expect(refused.connected).to.equal(false);

      const minor = await user(1, 'rider-v14', 'passenger', { protocol: '1.4.2' });
      expect(await helloOf(minor)).to.deep.equal({ protocol: PROTOCOL_VERSION, userId: 'rider-v14', role: 'passenger' });
      const unversioned = await user(0, 'rider-none', 'passenger', { protocol: false });
      expect(await helloOf(unversioned)).to.include({ protocol: PROTOCOL_VERSION, userId: 'rider-none' });
    });
    it('an admin whose id is also a rider\'s gets that rider\'s hello only, never its pushes (rooms are per role)', async () => {
      const admin = await user(0, 'same-id', 'admin');
      const pushes: string[] = [];
      admin.socket.onAny((event: string) => pushes.push(event));
      const rider = await user(0, 'same-id', 'passenger');
      const told = rider.next('call:status', () => true, 10000); // pushed before the ack
      const call = await rider.send('call:request', { requestId: 'r-same', pickup: PICKUP, dropoff: DROPOFF });
      expect((await told).id).to.equal(call.id);
      // The admin's own round trip on the same gateway comes after any push sent to it before.
      expect((await admin.send('call:get', { callId: call.id })).id).to.equal(call.id);
      expect(pushes).to.deep.equal([]);
    });
  });

  describe('send', () => {
    it('resolves with the typed ack data of each step, and throws the coded DispatchError on a refusal', async () => {
      const winner = await user(1, 'd-win', 'driver');
      const loser = await user(1, 'd-lose', 'driver');
      const online: { status: 'available' } = await winner.send('driver:online', { lat: PICKUP.lat + 0.001, lng: PICKUP.lng });
      expect(online).to.deep.equal({ status: 'available' });
      expect(await loser.send('driver:online', { lat: PICKUP.lat + 0.002, lng: PICKUP.lng })).to.deep.equal({ status: 'available' });

      const rider = await user(0, 'rider-send', 'passenger');
      // Listen before acting: a push may beat the ack of the event that caused it.
      const offers = Promise.all([winner.next('offer', () => true, 20000), loser.next('offer', () => true, 20000)]);
      const call: Call = await rider.send('call:request', { requestId: 'send-1', pickup: PICKUP, dropoff: DROPOFF });
      expect(call).to.include({ passengerId: 'rider-send', status: 'requested', driverId: null, seq: 1 });

      const [offer, other] = await offers;
      expect(offer.callId).to.equal(call.id);
      expect(other.callId).to.equal(call.id);
      const typedOffer: Offer = offer;
      expect(typedOffer.expiresAt).to.be.greaterThan(Date.now());

      const told = rider.next('call:status', (c) => c.id === call.id && c.status === 'dispatched', 20000);
      const won = await winner.send('offer:accept', { callId: call.id });
      expect(won).to.include({ id: call.id, status: 'dispatched', driverId: 'd-win' });
      expect(await told).to.deep.equal(won);

      const late = await rejection(loser.send('offer:accept', { callId: call.id }));
      expect(late.code).to.equal('ALREADY_DISPATCHED');
      expect(late.message).to.contain('배차완료된 콜입니다');
      expect(ackLost(late.code)).to.equal(false);

      const bad = await rejection(rider.send('call:request', { requestId: 'send-2', pickup: { lat: 91, lng: 0 }, dropoff: DROPOFF }));
      expect(bad.code).to.equal('VALIDATION_FAILED');
      expect(bad.name).to.equal('DispatchError');
    });
  });

  describe('request', () => {
    it('never throws: it returns the envelope of a success and of a refusal', async () => {
      const rider = await user(0, 'rider-request', 'passenger');
      expect(await rider.request('call:active', {})).to.deep.equal({ ok: true, data: [] });
      const refused = await rider.request('call:get', { callId: 'no-such-call' });
      expect(refused.ok).to.equal(false);
      if (!refused.ok) expect(refused.error.code).to.equal('NOT_FOUND');
      const invalid = await rider.request('call:request', { requestId: 'r', pickup: { lat: 0, lng: 181 }, dropoff: DROPOFF });
      expect(!invalid.ok && invalid.error.code).to.equal('VALIDATION_FAILED');
    });

    it('DISCONNECTED when the connection closes while the ack is pending', async () => {
      const rider = await user(1, 'rider-drop', 'passenger');
      // The event is written at once; closing in the same tick drops its ack before any reply.
      const pending = rider.request('call:active', {});
      rider.close();
      const res = await pending;
      expect(res).to.deep.include({ ok: false });
      if (res.ok) return;
      expect(res.error.code).to.equal('DISCONNECTED');
      expect(res.error.message).to.contain('call:active');
      expect(ackLost(res.error.code)).to.equal(true);

      const again = await user(1, 'rider-drop2', 'passenger');
      const sent = again.send('call:active', {});
      again.close();
      expect((await rejection(sent)).code).to.equal('DISCONNECTED');
    });

    it('ACK_TIMEOUT when no ack comes in time: not connected, or a server that does not answer', async () => {
      // Disconnected: the event waits in the client's buffer until the deadline.
      const rider = await user(0, 'rider-offline', 'passenger');
      rider.socket.disconnect();
      const res = await rider.request('call:active', {}, { timeoutMs: 200 });
      expect(res.ok).to.equal(false);
      if (!res.ok) {
        expect(res.error.code).to.equal('ACK_TIMEOUT');
        expect(res.error.message).to.contain('call:active');
        expect(ackLost(res.error.code)).to.equal(true);
      }
      expect((await rejection(rider.send('call:active', {}, { timeoutMs: 200 }))).code).to.equal('ACK_TIMEOUT');

      // Connected to a Socket.IO server with no handlers: the event arrives, its ack never does.
      const http = createServer();
      const silent = new Server(http);
      const received = new Promise<string>((resolve) => {
        silent.on('connection', (s) => s.onAny((event: string) => resolve(event)));
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      try {
        const c = await connectClient(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { token: 'anything', connectTimeoutMs: 10000 });
        clients.push(c);
        const lost = await c.request('call:active', {}, { timeoutMs: 300 });
        expect(await received).to.equal('call:active');
        expect(lost).to.deep.equal({ ok: false, error: { code: 'ACK_TIMEOUT', message: 'no ack for call:active within 300 ms' } });
      } finally {
        await silent.close();
      }
    });
  });
});
