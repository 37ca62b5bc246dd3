/** Small async helpers: bounded concurrency and deadlines (no fixed sleeps in the simulation's logic). */

/** Run `work` over `items` with at most `limit` at once; one failure does not stop the others. */
export async function pool<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await work(items[i] as T, i) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}

/** Wait for `p`, but no longer than `ms`; true when `p` settled in time. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise resolved from outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A timer that can be awaited and cancelled (cancel resolves it early with false). */
export function timer(ms: number): { done: Promise<boolean>; cancel: () => void } {
  const d = deferred<boolean>();
  const t = setTimeout(() => d.resolve(true), ms);
  return {
    done: d.promise,
    cancel: () => {
      clearTimeout(t);
      d.resolve(false);
    },
  };
}
