/**
 * Waiting with a deadline and a clear failure, never a fixed sleep: the one polling loop of the dev
 * kit, the tests, the bench and the CLI.
 */

/** Thrown by a check to stop waiting at once (the process waited for has exited, say). */
export class GiveUp extends Error {}

/**
 * Resolve with the first truthy value of `check`, re-checked every `tick` ms, or fail after `ms`
 * naming `what` (and the last error `check` threw). A `check` that throws is tried again, unless
 * it throws a GiveUp, which fails the wait at once.
 */
export async function until<T>(check: () => T | Promise<T>, what: string, ms = 10000, tick = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, tick));
  }
}
