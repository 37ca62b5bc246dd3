/**
 * protocol/ stays in step with ../shared/PROTOCOL.md: the codes and HTTP statuses, the events, the
 * statuses and transitions are read from the contract page and compared. Type-level checks at the
 * bottom fail `npm run typecheck` when the TypeScript drifts.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import {
  CALL_STATUSES, canTransition, CallRequest, ErrorCode, HTTP_STATUS, TRANSITIONS, DEFAULT_MESSAGE,
  type Call, type CallStatus, type ClientEvent, type Response, type ServerEvent,
} from '../protocol/index.js';
import { socketHandlers } from '../server/gateway/handlers.js';

const contract = readFileSync(new URL('../../shared/PROTOCOL.md', import.meta.url), 'utf8');

describe('protocol/ matches PROTOCOL.md', () => {
  it('error codes and their HTTP statuses', () => {
    const rows = [...contract.matchAll(/^\| ([A-Z_]+) \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(rows.length).to.equal(14);
    expect(Object.fromEntries(rows)).to.deep.equal(HTTP_STATUS);
    expect(Object.keys(ErrorCode)).to.deep.equal(Object.keys(HTTP_STATUS));
    expect(DEFAULT_MESSAGE.ALREADY_DISPATCHED).to.contain('배차완료된 콜입니다');
  });

  it('client events', () => {
    const named = [...contract.matchAll(/^\| `([a-z:]+)`(?: \/ `([a-z:]+)`)?(?: \/ `([a-z:]+)`)? \| `\{/gm)].flatMap((m) => m.slice(1).filter(Boolean));
    const handled = Object.keys(socketHandlers({} as never));
    expect([...named].sort()).to.deep.equal([...handled].sort());
  });

  it('statuses and the transition table', () => {
    for (const s of CALL_STATUSES) expect(contract).to.contain(s);
    const moves: [CallStatus, CallStatus][] = [
      ['requested', 'offered'], ['offered', 'dispatched'], ['dispatched', 'arrived'], ['arrived', 'in_progress'],
      ['in_progress', 'completed'], ['requested', 'cancelled'], ['offered', 'cancelled'], ['dispatched', 'cancelled'],
      ['arrived', 'cancelled'], ['requested', 'unfulfilled'], ['offered', 'unfulfilled'], ['dispatched', 'offered'], ['arrived', 'offered'],
    ];
    const all = CALL_STATUSES.flatMap((from) => TRANSITIONS[from].map((to) => [from, to]));
    expect(all).to.have.deep.members(moves);
    expect(canTransition('completed', 'cancelled')).to.equal(false);
    expect(canTransition('in_progress', 'cancelled')).to.equal(false);
  });

  it('payload schemas enforce the contract bounds', () => {
    const ok = { requestId: 'r', pickup: { lat: 90, lng: -180, address: 'a'.repeat(200) }, dropoff: { lat: -90, lng: 180 } };
    expect(CallRequest.safeParse(ok).success).to.equal(true);
    expect(CallRequest.safeParse({ ...ok, requestId: 'x'.repeat(65) }).success).to.equal(false);
    expect(CallRequest.safeParse({ ...ok, pickup: { lat: 90.1, lng: 0 } }).success).to.equal(false);
    expect(CallRequest.safeParse({ ...ok, dropoff: { lat: 0, lng: 0, address: 'a'.repeat(201) } }).success).to.equal(false);
  });
});

// ---- type-level checks (compile-time) ----
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(): T => true as T;
assertType<Equal<CallStatus, 'requested' | 'offered' | 'dispatched' | 'arrived' | 'in_progress' | 'completed' | 'cancelled' | 'unfulfilled'>>();
assertType<Equal<ServerEvent, 'call:status' | 'driver:location' | 'offer' | 'offer:revoked' | 'trip:status'>>();
assertType<Equal<ClientEvent, 'call:request' | 'call:cancel' | 'call:get' | 'call:active' | 'driver:online' | 'driver:offline' | 'driver:location' | 'offer:accept' | 'offer:reject' | 'trip:arrived' | 'trip:start' | 'trip:complete' | 'trip:cancel'>>();
assertType<Equal<Response<number>, { ok: true; data: number } | { ok: false; error: { code: ErrorCode; message: string } }>>();
assertType<Equal<Call['driverId'], string | null>>();
