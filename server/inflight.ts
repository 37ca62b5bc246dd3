/** Counts requests in flight, so a shutdown can wait for their answers before closing. */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  /** Run `work`, counted while it runs. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.count++;
    try {
      return await work();
    } finally {
      if (--this.count === 0) for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Resolves when nothing is in flight, or after `ms` at the latest. */
  idle(ms: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
