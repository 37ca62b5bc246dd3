/** Event-loop delay of the bench's Node processes over a window (see bench/preload.ts). */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropTempDir, sleep, trackTempDir } from './procs.js';

export interface Lag {
  p50: number;
  p99: number;
  max: number;
}

/** Per role: the worst delays seen, or null when a process did not answer within the wait (its loop was stuck that long). */
export type LagByRole = Record<string, Lag | null>;

const ANSWER_WAIT_MS = 5000;

/**
 * The folder every child reports to (set before any child starts: they inherit it). Returns a
 * function that removes it again.
 */
export function enableLagReports(): () => void {
  if (process.env.BENCH_LAG_DIR) return () => undefined;
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'dispatch-bench-lag-')));
  process.env.BENCH_LAG_DIR = dir;
  return () => {
    delete process.env.BENCH_LAG_DIR;
    dropTempDir(dir);
  };
}

function signal(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGWINCH');
    } catch {
      // gone
    }
  }
}

/** Start a window: every process forgets the delays it saw so far. */
export function lagStart(roles: Record<string, number[]>): void {
  const dir = process.env.BENCH_LAG_DIR;
  if (!dir) return;
  signal(Object.values(roles).flat());
}

/** End the window: the worst p99 and max per role (ms); null for a role one of whose processes did not answer. */
export async function lagEnd(roles: Record<string, number[]>): Promise<LagByRole> {
  const dir = process.env.BENCH_LAG_DIR;
  if (!dir) return {};
  const pids = Object.values(roles).flat();
  for (const pid of pids) rmSync(join(dir, `${pid}.json`), { force: true });
  signal(pids);
  // A starved process answers late: wait (bounded) for every Node process to have written.
  const deadline = Date.now() + ANSWER_WAIT_MS;
  const nodePids = Object.entries(roles).filter(([role]) => role !== 'redis').flatMap(([, list]) => list);
  while (Date.now() < deadline && !nodePids.every((pid) => existsSync(join(dir, `${pid}.json`)))) await sleep(50);
  const out: LagByRole = {};
  for (const [role, list] of Object.entries(roles)) {
    if (role === 'redis') continue;
    for (const pid of list) {
      let l: (Lag & { samples?: number }) | null = null;
      try {
        l = JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8')) as Lag & { samples?: number };
      } catch {
        l = null;
      }
      // No file, or a window without a single sample: the loop never turned while it was measured.
      if (!l || l.samples === 0) {
        out[role] = null;
        continue;
      }
      const prev = out[role];
      if (prev === null) continue;
      out[role] = prev ? { p50: Math.max(prev.p50, l.p50), p99: Math.max(prev.p99, l.p99), max: Math.max(prev.max, l.max) } : { p50: l.p50, p99: l.p99, max: l.max };
    }
  }
  return out;
}
