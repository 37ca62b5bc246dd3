/**
 * What the CLI's simulated users add to the protocol's DispatchClient: a client per user that signs
 * a fresh token on every handshake and reconnects normally, a connect that names the user when it
 * fails, and error counts by code.
 */
import { DispatchClient, DispatchError, type Outcome } from '../../../protocol/client.js';
import type { UserRole } from '../../../protocol/index.js';
import { signToken } from '../token.js';

/** A failed send as the helper reports it: a contract code or one of the client's own. */
export type ClientError = Extract<Outcome<unknown>, { ok: false }>['error'];

export interface User {
  id: string;
  role: UserRole;
}

/**
 * A client for `user`, connecting in the background: it signs a new token for each (re)connect,
 * so long runs outlive any TTL, and it reconnects with backoff after a drop. Add listeners, then
 * `connectAs`.
 */
export function openClient(url: string, user: User, secret: string): DispatchClient {
  return new DispatchClient(url, {
    token: () => signToken(secret, user.id, user.role, '1h'),
    socket: { reconnection: true, reconnectionDelay: 500, reconnectionDelayMax: 5000 },
  });
}

/** Wait for the first connect; on failure the client is closed and the error names the user. */
export async function connectAs(client: DispatchClient, who: string): Promise<void> {
  try {
    await client.ready();
  } catch (err) {
    client.close();
    if (err instanceof DispatchError) throw new DispatchError(err.code, `${who}: could not connect: ${err.message}`);
    throw err;
  }
}

/** Counts by error code, printed sorted. */
export class ErrorTally {
  private readonly counts = new Map<string, number>();

  add(code: string, n = 1): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + n);
  }

  merge(other: ErrorTally): void {
    for (const [code, n] of other.counts) this.add(code, n);
  }

  get total(): number {
    let t = 0;
    for (const n of this.counts.values()) t += n;
    return t;
  }

  toObject(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  toString(): string {
    const parts = Object.entries(this.toObject()).map(([code, n]) => `${code}=${n}`);
    return parts.length ? parts.join(' ') : 'none';
  }
}
