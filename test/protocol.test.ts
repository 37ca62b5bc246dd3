/**
 * protocol/ stays in step with docs/protocol.md, the contract: the version, the codes and HTTP
 * statuses, the client events and their payloads, the pushed events, the action table (event,
 * route, roles, codes), the REST routes, the statuses and transitions, the revocation reasons and
 * the accept's order of checks are read from the page's tables and compared. Type-level checks at
 * the bottom fail `npm run typecheck` when the TypeScript drifts.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  ACTIONS, actionOfEvent, CALL_STATUSES, canTransition, Call as CallSchema, CallRequest, DEFAULT_MESSAGE, DriverLiftedPush, DriverLocationPush, DriverSuspendedPush, ErrorCode, Hello, HTTP_ROUTES, HTTP_STATUS,
  Offer, OfferRevoked, OpsDelta, PROTOCOL_VERSION, REST_CODES, RevokeReason, SOCKET_CODES, TRANSITIONS,
  type Call, type CallStatus, type ClientEvent, type Response, type ServerEvent,
} from '../protocol/index.js';
import { bindActions } from '../server/gateway/actions.js';

const contract = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');
const lines = contract.split('\n');
const protocolPackage = JSON.parse(readFileSync(new URL('../protocol/package.json', import.meta.url), 'utf8')) as { name: string; version: string };

/** The body rows (cells trimmed) of every table of the page whose header row is exactly `header`. */
function tables(header: string): string[][][] {
  const found: string[][][] = [];
  lines.forEach((line, i) => {
    if (line.trim() !== header) return;
    expect(lines[i + 1], `the separator row under ${header}`).to.match(/^\|(?:\s*:?-+:?\s*\|)+$/);
    const rows: string[][] = [];
    for (let j = i + 2; j < lines.length && lines[j]!.startsWith('|'); j++) rows.push(cellsOf(lines[j]!));
    found.push(rows);
  });
  return found;
}

/** The one table headed `header`. */
function table(header: string): string[][] {
  const found = tables(header);
  expect(found, `exactly one table headed ${header}`).to.have.length(1);
  return found[0]!;
}

function cellsOf(row: string): string[] {
  return row.trim().replace(/^\|/, '').replace(/\|$/, '').split(' | ').map((c) => c.trim());
}

/** `x` → x; anything else unchanged. */
function unquote(cell: string): string {
  const m = /^`([^`]*)`$/.exec(cell);
  return m ? m[1]! : cell;
}

/** The documented shape `{ a, b? }` → ['a', 'b?']. */
function documentedFields(cell: string): string[] {
  const m = /^`\{(.*)\}`$/.exec(cell);
  expect(m, `a payload written as \`{ … }\`: ${cell}`).to.not.equal(null);
  return m![1]!.split(',').map((f) => f.trim()).filter(Boolean);
}

/** A zod object's fields as the page writes them: optional ones with a trailing `?`. */
function schemaFields(schema: z.ZodType): string[] {
  expect(schema).to.be.instanceOf(z.ZodObject);
  const shape = (schema as z.ZodObject).shape as Record<string, z.ZodType>;
  return Object.entries(shape).map(([name, field]) => (field.safeParse(undefined).success ? `${name}?` : name));
}

/** The text between a heading and the next heading of the same or a higher level. */
function section(heading: string): string {
  const start = lines.findIndex((l) => l.trim() === heading);
  expect(start, `a section ${heading}`).to.be.greaterThan(-1);
  const level = /^#+/.exec(heading)![0].length;
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && /^#+/.exec(l)![0].length <= level);
  return lines.slice(start + 1, end === -1 ? undefined : end).join('\n');
}

/** The client events the server answers: the events of the actions it binds (the table only closes over the services). */
const handled = Object.keys(bindActions({} as never)).flatMap((name) => ACTIONS.find((a) => a.name === name)?.event ?? []);

/** Every push with the schema of its payload; the Record type makes the compiler hold the list to ServerToClientEvents. */
const PUSHES: Record<ServerEvent, z.ZodType> = {
  hello: Hello,
  'call:status': CallSchema,
  'driver:location': DriverLocationPush,
  offer: Offer,
  'offer:revoked': OfferRevoked,
  'trip:status': CallSchema,
  'driver:suspended': DriverSuspendedPush,
  'driver:lifted': DriverLiftedPush,
  'ops:delta': OpsDelta,
};

describe('protocol/ matches docs/protocol.md', () => {
  it('states the protocol version, which is the protocol package\'s semver', () => {
    const stated = /^\*\*Protocol version: `([^`]+)`\*\*$/m.exec(contract);
    expect(stated, 'a line **Protocol version: `x.y.z`**').to.not.equal(null);
    expect(stated![1]).to.equal(PROTOCOL_VERSION);
    expect(protocolPackage.version).to.equal(PROTOCOL_VERSION);
    expect(protocolPackage.name).to.equal('@taxi-dispatch/protocol');
    expect(contract).to.contain('`auth.protocol`').and.to.contain('`hello`').and.to.contain(protocolPackage.name);
  });

  it('error codes and their HTTP statuses', () => {
    const rows = [...contract.matchAll(/^\| ([A-Z_]+) \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(rows.length).to.equal(14);
    expect(Object.fromEntries(rows)).to.deep.equal(HTTP_STATUS);
    expect(Object.keys(ErrorCode)).to.deep.equal(Object.keys(HTTP_STATUS));
    const documented = table('| code | HTTP | meaning |').map(([code, status]) => [code, Number(status)]);
    expect(documented).to.deep.equal(rows);
    expect(DEFAULT_MESSAGE.ALREADY_DISPATCHED).to.contain('배차완료된 콜입니다');
    expect(contract).to.contain('배차완료된 콜입니다');
  });

  it('client events: each once, with the payload of its schema', () => {
    const named = [...contract.matchAll(/^\| `([a-z:]+)`(?: \/ `([a-z:]+)`)?(?: \/ `([a-z:]+)`)? \| `\{/gm)].flatMap((m) => m.slice(1).filter(Boolean));
    expect([...named].sort()).to.deep.equal([...handled].sort());
    const rows = tables('| event | payload | ack data |').flat();
    expect(tables('| event | payload | ack data |'), 'one table per role: passenger, driver and admin').to.have.length(3);
    const events = rows.map(([event]) => unquote(event!));
    expect(events, 'no event twice').to.have.length(new Set(events).size);
    expect([...events].sort()).to.deep.equal([...handled].sort());
    for (const [event, payload] of rows) {
      // The schema the server validates this event's payload with, over both transports.
      const action = actionOfEvent(unquote(event!))!;
      expect(documentedFields(payload!), `the payload of ${event}`).to.deep.equal(schemaFields(action.payload));
    }
  });

  it('every pushed event of ServerToClientEvents, with the payload of its schema', () => {
    const rows = table('| push | to | payload | when |');
    const pushes = rows.map(([push]) => unquote(push!));
    expect(pushes, 'no push twice').to.have.length(new Set(pushes).size);
    expect([...pushes].sort()).to.deep.equal(Object.keys(PUSHES).sort());
    for (const [push, , payload] of rows) {
      const schema = PUSHES[unquote(push!) as ServerEvent];
      if (schema === CallSchema) expect(payload, `the payload of ${push}`).to.equal('`Call`');
      else expect(documentedFields(payload!), `the payload of ${push}`).to.deep.equal(schemaFields(schema));
    }
  });

  it('every action with its event, route, roles and own codes; the transport-wide codes', () => {
    const rows = table('| action | event | route | roles | own codes |');
    expect(rows.map(([name]) => unquote(name!))).to.deep.equal(ACTIONS.map((a) => a.name));
    for (const [name, event, route, roles, codes] of rows) {
      const action = ACTIONS.find((a) => a.name === unquote(name!))!;
      expect(unquote(event!), `the event of ${name}`).to.equal(action.event ?? '—');
      expect(unquote(route!), `the route of ${name}`).to.equal(action.route ? `${action.route.method.toUpperCase()} ${action.route.path}` : '—');
      expect(roles!.split(', '), `the roles of ${name}`).to.deep.equal([...action.roles]);
      expect(codes!.match(/[A-Z_]+/g) ?? [], `the own codes of ${name}`).to.deep.equal([...action.codes]);
    }
    // Every client event is an action, so the table gives the codes of every event.
    for (const event of handled) expect(ACTIONS.some((a) => a.event === event), `an action for ${event}`).to.equal(true);
    const transports = Object.fromEntries(
      table('| transport | codes every action can also answer |').map(([transport, codes]): [string, string[]] => [transport!, codes!.match(/[A-Z_]+/g) ?? []]),
    );
    expect(transports).to.deep.equal({ socket: [...SOCKET_CODES], REST: [...REST_CODES] });
  });

  it('every REST route: the actions\' and the probes, metrics and API documents', () => {
    const rows = table('| route | who | body or query | answer |');
    const routes = rows.map(([route]) => unquote(route!));
    const expected = [
      ...ACTIONS.flatMap((a) => (a.route ? [`${a.route.method.toUpperCase()} ${a.route.path}`] : [])),
      ...HTTP_ROUTES.map((r) => `GET ${r.path}`),
    ];
    expect(routes, 'no route twice').to.have.length(new Set(routes).size);
    expect([...routes].sort()).to.deep.equal([...expected].sort());
    for (const a of ACTIONS) {
      const answer = rows.find(([route]) => unquote(route!) === `${a.route.method.toUpperCase()} ${a.route.path}`)![3]!;
      expect(answer, `the success status of ${a.name}`).to.match(new RegExp(`^${a.route.status} `));
      if (a.route.also) expect(answer, `the second success status of ${a.name}`).to.contain(String(a.route.also.status));
    }
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
    const documented = table('| from | to | caused by |').map(([from, to]) => [unquote(from!), unquote(to!)]);
    expect(documented).to.have.length(all.length);
    expect(documented).to.have.deep.members(all);
    expect(canTransition('completed', 'cancelled')).to.equal(false);
    expect(canTransition('in_progress', 'cancelled')).to.equal(false);
  });

  it('the revocation reasons', () => {
    const reasons = table('| reason | when |').map(([reason]) => unquote(reason!));
    expect([...reasons].sort()).to.deep.equal(Object.values(RevokeReason).sort());
  });

  it("the accept's order of checks answers its codes in the order of the action table", () => {
    const steps = [...section('### Order of checks').matchAll(/^\d+\. .*?→ `([A-Z_]+)`/gm)].map((m) => m[1]);
    const accept = ACTIONS.find((a) => a.name === 'offer.accept')!;
    expect(steps).to.deep.equal(['VALIDATION_FAILED', ...accept.codes]);
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
assertType<Equal<ServerEvent, 'hello' | 'call:status' | 'driver:location' | 'offer' | 'offer:revoked' | 'trip:status' | 'driver:suspended' | 'driver:lifted' | 'ops:delta'>>();
assertType<Equal<ClientEvent, 'call:request' | 'call:cancel' | 'call:get' | 'call:active' | 'driver:online' | 'driver:offline' | 'driver:location' | 'offer:accept' | 'offer:reject' | 'trip:arrived' | 'trip:start' | 'trip:complete' | 'trip:cancel'
  | 'call:redispatch' | 'driver:suspend' | 'driver:lift' | 'ops:join' | 'ops:leave'>>();
assertType<Equal<Response<number>, { ok: true; data: number } | { ok: false; error: { code: ErrorCode; message: string } }>>();
assertType<Equal<Call['driverId'], string | null>>();
