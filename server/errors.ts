/** Errors with a stable contract code, and the one function that turns any error into the wire shape. */
import { ZodError } from 'zod';
import { DEFAULT_MESSAGE, type ErrorCode, type WireError } from '../protocol/index.js';

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = DEFAULT_MESSAGE[code],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

/** A readable "field: problem" list from a zod error. */
export function describeZodError(err: ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'payload'}: ${i.message}`)
    .join('; ');
}

/** True for failures of the Redis connection rather than of a command. */
function isUnavailable(err: Error): boolean {
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|enableOfflineQueue|LOADING/.test(err.message)
  );
}

/**
 * The wire shape of any error. Known errors keep their code and message; anything else becomes
 * INTERNAL with a fixed message, and `onUnexpected` gets the original (to log it): no stack or
 * internal detail ever reaches a client.
 */
export function toWireError(err: unknown, onUnexpected?: (err: unknown) => void): WireError {
  if (err instanceof AppError) return { code: err.code, message: err.message };
  if (err instanceof ZodError) return { code: 'VALIDATION_FAILED', message: describeZodError(err) };
  if (err instanceof Error && isUnavailable(err)) {
    onUnexpected?.(err);
    return { code: 'UNAVAILABLE', message: DEFAULT_MESSAGE.UNAVAILABLE };
  }
  onUnexpected?.(err);
  return { code: 'INTERNAL', message: DEFAULT_MESSAGE.INTERNAL };
}
