/** How the raw baselines drive their operations: at a rate, flat out, or in bursts. Always bounded. */
import { Latency, type Percentiles } from '../../clients/cli/report.js';

/**
 * `rate`: open loop, `rate` operations per second for `durationS` (latency at a given load).
 * `saturate`: closed loop, `concurrency` operations always in flight for `durationS` (capacity).
 * `burst`: `groups` groups in parallel, each `rounds` times firing `size` operations at once and
 * waiting for all of them (the shape of the accept race).
 */
export type Mode =
  | { kind: 'rate'; rate: number; durationS: number }
  | { kind: 'saturate'; concurrency: number; durationS: number }
  | { kind: 'burst'; groups: number; size: number; rounds: number };

export interface OpSummary {
  mode: Mode['kind'];
  /** Operations that completed / failed. */
  ok: number;
  failed: number;
  elapsedS: number;
  /** Completed operations per second. */
  perS: number;
  latencyMs: Percentiles;
}

/**
 * One operation: resolves with its latency in ms (or throws). `slot` says which client or lane does
 * it; `seq` numbers the operations (rate, saturate) or the rounds (burst).
 */
export type Op = (slot: number, seq: number) => Promise<number>;

const OP_DEADLINE_MS = 15_000;

/** `limit`: at most this many operations (flat out, a run ends early when the prepared data runs out). */
export async function drive(mode: Mode, op: Op, signal?: AbortSignal, limit = Infinity): Promise<OpSummary> {
  const lat = new Latency();
  let ok = 0;
  let failed = 0;
  const one = async (slot: number, seq: number) => {
    try {
      lat.record(await withDeadline(op(slot, seq), OP_DEADLINE_MS));
      ok++;
    } catch {
      failed++;
    }
  };
  const started = performance.now();
  if (mode.kind === 'rate') {
    const inflight = new Set<Promise<void>>();
    const total = Math.min(limit, Math.ceil(mode.rate * mode.durationS));
    let issued = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const elapsed = performance.now() - started;
        if (issued >= total || elapsed >= mode.durationS * 1000 + 1000 || signal?.aborted) {
          resolve();
          return;
        }
        const due = Math.min(Math.floor((mode.rate * elapsed) / 1000) + 1, total) - issued;
        for (let k = 0; k < due; k++) {
          const p = one(issued, issued);
          issued++;
          inflight.add(p);
          void p.then(() => inflight.delete(p));
        }
        setTimeout(tick, 2);
      };
      tick();
    });
    await Promise.all(inflight);
  } else if (mode.kind === 'saturate') {
    const end = started + mode.durationS * 1000;
    let seq = 0;
    await Promise.all(Array.from({ length: mode.concurrency }, async (_, lane) => {
      while (performance.now() < end && !signal?.aborted && seq < limit) await one(lane, seq++);
    }));
  } else {
    await Promise.all(Array.from({ length: mode.groups }, async (_, g) => {
      for (let r = 0; r < mode.rounds && !signal?.aborted; r++) {
        await Promise.all(Array.from({ length: mode.size }, (_, k) => one(g * mode.size + k, r)));
      }
    }));
  }
  const elapsedS = (performance.now() - started) / 1000;
  return { mode: mode.kind, ok, failed, elapsedS: round2(elapsedS), perS: Math.round(ok / Math.max(elapsedS, 1e-3)), latencyMs: lat.summary() };
}

export function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** The number of operations a mode will run at most (to prepare data for each). */
export function maxOps(mode: Mode, perSecondGuess: number): number {
  if (mode.kind === 'rate') return Math.ceil(mode.rate * mode.durationS);
  if (mode.kind === 'burst') return mode.groups * mode.size * mode.rounds;
  return Math.ceil(perSecondGuess * mode.durationS);
}
