/** Error codes of the contract, with the HTTP status REST answers each with. */

export const ErrorCode = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_DISPATCHED: 'ALREADY_DISPATCHED',
  NOT_OFFERED: 'NOT_OFFERED',
  OFFER_EXPIRED: 'OFFER_EXPIRED',
  DRIVER_BUSY: 'DRIVER_BUSY',
  CALL_CANCELLED: 'CALL_CANCELLED',
  INVALID_STATE: 'INVALID_STATE',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  RATE_LIMITED: 'RATE_LIMITED',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALREADY_DISPATCHED: 409,
  NOT_OFFERED: 409,
  OFFER_EXPIRED: 409,
  DRIVER_BUSY: 409,
  CALL_CANCELLED: 409,
  INVALID_STATE: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** The contract's fixed text for a lost race ("already dispatched"). */
export const ALREADY_DISPATCHED_MESSAGE = '배차완료된 콜입니다';

/** Default message of each code, used when a more precise one is not at hand. */
export const DEFAULT_MESSAGE: Readonly<Record<ErrorCode, string>> = {
  VALIDATION_FAILED: 'payload does not match the schema',
  UNAUTHORIZED: 'missing or invalid token',
  FORBIDDEN: 'not allowed',
  NOT_FOUND: 'no such call',
  ALREADY_DISPATCHED: `${ALREADY_DISPATCHED_MESSAGE} (call already dispatched to another driver)`,
  NOT_OFFERED: 'this call was not offered to this driver',
  OFFER_EXPIRED: 'the offer has expired or was revoked',
  DRIVER_BUSY: 'the driver already has an active trip',
  CALL_CANCELLED: 'the call was cancelled',
  INVALID_STATE: 'the call cannot make this move now',
  PAYLOAD_TOO_LARGE: 'payload too large',
  RATE_LIMITED: 'too many requests',
  UNAVAILABLE: 'a dependency is unavailable, try again',
  INTERNAL: 'internal error',
};
