/**
 * The one table that maps a script's negative status to a contract error. Nothing else
 * interprets raw script results.
 */
import { DEFAULT_MESSAGE, type ErrorCode } from '../../protocol/index.js';
import { AppError } from '../errors.js';
import type { ScriptReply } from './scripts.js';

const FAILURES: Readonly<Record<number, [ErrorCode, string?]>> = {
  [-1]: ['NOT_FOUND'],
  [-2]: ['ALREADY_DISPATCHED'],
  [-3]: ['NOT_OFFERED'],
  [-4]: ['OFFER_EXPIRED'],
  [-5]: ['DRIVER_BUSY'],
  [-6]: ['CALL_CANCELLED'],
  [-7]: ['INVALID_STATE'],
  [-8]: ['FORBIDDEN', 'not your call'],
  [-9]: ['INVALID_STATE', 'this passenger already has an active call'],
  [-10]: ['INVALID_STATE', 'the driver is offline: go online first'],
  [-11]: ['INVALID_STATE', 'a timer of an older wave or generation'],
};

/** Throw the contract error for a failed script reply; return the reply otherwise. */
export function checked(reply: ScriptReply): ScriptReply {
  const status = reply[0];
  if (status >= 0) return reply;
  const failure = FAILURES[status];
  if (!failure) throw new Error(`unknown script status ${status}`);
  const [code, message] = failure;
  throw new AppError(code, message ?? DEFAULT_MESSAGE[code]);
}
