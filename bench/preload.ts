/**
 * Loaded (`--import`) into every Node process the bench starts, the product's included; it changes
 * nothing of what they do:
 * - the process exits when the bench that started it is gone (no orphan survives a crash of the bench);
 * - with `--expose-gc`, SIGUSR2 runs a full GC, so the bench can read a settled heap from /metrics;
 * - with BENCH_LAG_DIR set, it watches its event-loop delay; SIGWINCH writes what it saw since the
 *   last SIGWINCH to BENCH_LAG_DIR/<pid>.json and starts again (who was starved during a load).
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 1000).unref();

const gc = (globalThis as { gc?: () => void }).gc;
if (gc) {
  process.on('SIGUSR2', () => {
    gc();
    gc();
  });
}

const lagDir = process.env.BENCH_LAG_DIR;
if (lagDir) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  process.on('SIGWINCH', () => {
    // The histogram holds whole sampling intervals (10 ms and more): the delay is what exceeds one.
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e5 - 100) / 10);
    try {
      writeFileSync(`${lagDir}/${process.pid}.json`, JSON.stringify({ p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), samples: h.count }));
    } catch {
      // the bench is gone or its folder with it: nothing to report to
    }
    h.reset();
  });
}
