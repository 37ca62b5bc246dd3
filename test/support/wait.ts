/** Waiting with a deadline and a clear failure; never a fixed sleep. */

/** Resolve with the first truthy value of `check`, re-checked on every `tick` ms, or fail naming `what`. */
export async function until<T>(check: () => T | Promise<T>, what: string, ms = 10000, tick = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, tick));
  }
}
