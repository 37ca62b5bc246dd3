/**
 * Why a script refused, named once (as BullMQ's error-code.ts does): the loader generates the Lua
 * table `FAIL` from `FAIL` here, scripts answer `fail(FAIL.X)`, and `FAILURES` is the one table from
 * a refusal to the protocol's code and message.
 */
import { DEFAULT_MESSAGE, type ErrorCode } from '../../protocol/index.js';
import { AppError } from '../errors.js';

export const FAIL = {
  NO_CALL: 'no-call',
  TAKEN: 'taken',
  NOT_OFFERED: 'not-offered',
  OFFER_OVER: 'offer-over',
  DRIVER_BUSY: 'driver-busy',
  CANCELLED: 'cancelled',
  BAD_STATE: 'bad-state',
  NOT_YOURS: 'not-yours',
  ACTIVE_CALL: 'active-call',
  DRIVER_OFFLINE: 'driver-offline',
} as const;
export type Fail = (typeof FAIL)[keyof typeof FAIL];

const FAILURES: Readonly<Record<Fail, readonly [ErrorCode, string?]>> = {
  'no-call': ['NOT_FOUND'],
  taken: ['ALREADY_DISPATCHED'],
  'not-offered': ['NOT_OFFERED'],
  'offer-over': ['OFFER_EXPIRED'],
  'driver-busy': ['DRIVER_BUSY'],
  cancelled: ['CALL_CANCELLED'],
  'bad-state': ['INVALID_STATE'],
  'not-yours': ['FORBIDDEN', 'not your call'],
  'active-call': ['INVALID_STATE', 'this passenger already has an active call'],
  'driver-offline': ['INVALID_STATE', 'the driver is offline: go online first'],
};

/** The protocol error of a refusal (an unknown reason is a bug: it surfaces as INTERNAL). */
export function refusal(script: string, reason: string): Error {
  const failure = Object.hasOwn(FAILURES, reason) ? FAILURES[reason as Fail] : undefined;
  if (!failure) return new Error(`script ${script} answered an unknown refusal ${JSON.stringify(reason)}`);
  const [code, message] = failure;
  return new AppError(code, message ?? DEFAULT_MESSAGE[code]);
}

/** `FAIL` as a Lua table, for the loader. */
export function failLua(): string {
  const rows = Object.entries(FAIL).map(([name, value]) => `  ${name} = '${value}',`);
  return `-- Generated from server/redis/outcomes.ts by server/redis/scripts.ts.\nlocal FAIL = {\n${rows.join('\n')}\n}`;
}
