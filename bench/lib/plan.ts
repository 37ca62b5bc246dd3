/** What each mode of the bench runs: counts, rates and durations, all bounded. */
import { matchPlan, type MatchPlan } from './match-plan.js';

export type Mode = 'full' | 'quick' | 'tiny';
export const SCENARIOS = ['capacity', 'throughput', 'latency', 'contention', 'connections', 'rest', 'micro', 'ledger', 'matching', 'ops-feed', 'profile'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Plan {
  mode: Mode;
  /** Raw saturation runs (capacity of each raw piece). */
  capacity: { durationS: number; clients: number; concurrency: number };
  throughput: {
    /** Calls/s, tried in order until one is not sustained. */
    steps: number[];
    durationS: number;
    drainMs: number;
    /** After the first failing step, one more halfway between it and the last good one. */
    bisect: boolean;
    /** When the first step already fails, halve it up to this many times. */
    downSteps: number;
  };
  latency: { rate: number; durationS: number; drainMs: number; rawDurationS: number };
  /** `rawRounds`: bursts per group of the raw twin (fewer than the product's calls keeps quick runs short). */
  contention: { groups: number; callsPerGroup: number; driversPerCall: number; rawRounds: number };
  /**
   * `rawIdle`: also hold the same number of plain Socket.IO sockets (raw heap per socket, raw latency
   * under that load). `idleS`: seconds with every socket up and no call, to see what holding them costs.
   */
  connections: { sockets: number; rate: number; durationS: number; drainMs: number; rawDurationS: number; locationEveryMs: number; rawIdle: boolean; idleS: number };
  /** `freshStack`: on a stack of its own (what the 20k-socket run leaves behind is not REST's). */
  rest: { connections: number; durationS: number; rawDurationS: number; freshStack: boolean };
  /** Micro-measurements of the hot paths the profiles name (null: not in this mode). */
  micro: { ledgerEntries: number; tokens: number; breakerFires: number } | null;
  /**
   * The ledger on SQLite and on PostgreSQL: `entries` written alone in batches of `batch` through
   * each backend, then the stack at `rate` calls/s for `durationS` on each, the stream's backlog
   * sampled every `sampleMs`; after the calls, at most `emptyWaitS` for the stream to empty.
   */
  ledger: { entries: number; batch: number; rate: number; durationS: number; drainMs: number; sampleMs: number; emptyWaitS: number };
  /** CPU-profile the product where a target is missed: seconds of load per profile. */
  profile: { durationS: number };
  /** Issue 11: greedy against batched matching (bench/lib/match-plan.ts). */
  matching: MatchPlan;
  /** Issue 13: the operator feed's cost (bench/lib/ops-feed.ts). */
  opsFeed: OpsFeedPlan;
}

/**
 * The operator feed's cost: `drivers` online (a position every `locationEveryMs`, ±25 %), then
 * `rounds` pairs of load steps at `rate` calls/s of `phaseS` each, console closed (A) and open (B),
 * in the order A B, B A, A B, … (drift over the run weighs on both); `admins` consoles in B, one per
 * gateway from the first; `warmupS` with every driver up before the first step.
 */
export interface OpsFeedPlan {
  drivers: number;
  locationEveryMs: number;
  rate: number;
  phaseS: number;
  rounds: number;
  drainMs: number;
  warmupS: number;
  admins: number;
  /**
   * When `drivers` do not hold (not all online, or calls failing or lost in the first step, console
   * closed; a step merely slow is the machine at its capacity, and measured):
   * up to this many more goes at half as many each time, the last one measured whatever it shows.
   */
  fallbacks: number;
}

/** The feed's target: gateway CPU and calls/s within this many % of the console closed. */
export const OPS_FEED_MAX_CHANGE_PCT = 10;

function opsFeedPlan(mode: Mode): OpsFeedPlan {
  switch (mode) {
    case 'full':
      return { drivers: 20_000, locationEveryMs: 5000, rate: 200, phaseS: 30, rounds: 2, drainMs: 10_000, warmupS: 10, admins: 1, fallbacks: 2 };
    case 'quick':
      return { drivers: 2000, locationEveryMs: 5000, rate: 100, phaseS: 5, rounds: 1, drainMs: 3000, warmupS: 3, admins: 1, fallbacks: 0 };
    case 'tiny':
      return { drivers: 100, locationEveryMs: 1000, rate: 10, phaseS: 1.5, rounds: 1, drainMs: 3000, warmupS: 1, admins: 2, fallbacks: 0 };
  }
}

export function makePlan(mode: Mode): Plan {
  switch (mode) {
    case 'full':
      return {
        mode,
        capacity: { durationS: 3, clients: 1000, concurrency: 100 },
        throughput: { steps: [100, 200, 400, 600, 800, 1000], durationS: 10, drainMs: 10_000, bisect: true, downSteps: 2 },
        latency: { rate: 500, durationS: 15, drainMs: 10_000, rawDurationS: 5 },
        contention: { groups: 10, callsPerGroup: 100, driversPerCall: 100, rawRounds: 20 },
        connections: { sockets: 20_000, rate: 200, durationS: 20, drainMs: 10_000, rawDurationS: 5, locationEveryMs: 5000, rawIdle: true, idleS: 5 },
        rest: { connections: 100, durationS: 10, rawDurationS: 5, freshStack: true },
        micro: { ledgerEntries: 6000, tokens: 5000, breakerFires: 40_000 },
        ledger: { entries: 60_000, batch: 500, rate: 400, durationS: 25, drainMs: 10_000, sampleMs: 250, emptyWaitS: 30 },
        profile: { durationS: 10 },
        matching: matchPlan(mode),
        opsFeed: opsFeedPlan(mode),
      };
    case 'quick':
      return {
        mode,
        capacity: { durationS: 0.5, clients: 200, concurrency: 100 },
        throughput: { steps: [100, 200, 400], durationS: 1.5, drainMs: 1000, bisect: false, downSteps: 0 },
        latency: { rate: 500, durationS: 1, drainMs: 1000, rawDurationS: 0.5 },
        contention: { groups: 8, callsPerGroup: 25, driversPerCall: 100, rawRounds: 3 },
        connections: { sockets: 2000, rate: 200, durationS: 1.5, drainMs: 1000, rawDurationS: 0.5, locationEveryMs: 5000, rawIdle: false, idleS: 0 },
        rest: { connections: 100, durationS: 3, rawDurationS: 0.7, freshStack: false },
        micro: null,
        ledger: { entries: 12_000, batch: 500, rate: 400, durationS: 5, drainMs: 3000, sampleMs: 250, emptyWaitS: 15 },
        profile: { durationS: 4 },
        matching: matchPlan(mode),
        opsFeed: opsFeedPlan(mode),
      };
    case 'tiny':
      return {
        mode,
        capacity: { durationS: 0.5, clients: 20, concurrency: 10 },
        throughput: { steps: [10, 20], durationS: 1, drainMs: 3000, bisect: false, downSteps: 0 },
        latency: { rate: 20, durationS: 1, drainMs: 3000, rawDurationS: 0.5 },
        contention: { groups: 2, callsPerGroup: 3, driversPerCall: 10, rawRounds: 3 },
        connections: { sockets: 200, rate: 10, durationS: 1, drainMs: 3000, rawDurationS: 0.5, locationEveryMs: 5000, rawIdle: true, idleS: 0.5 },
        rest: { connections: 10, durationS: 1, rawDurationS: 0.5, freshStack: false },
        micro: { ledgerEntries: 600, tokens: 200, breakerFires: 2000 },
        ledger: { entries: 1200, batch: 500, rate: 20, durationS: 1, drainMs: 3000, sampleMs: 250, emptyWaitS: 10 },
        profile: { durationS: 1 },
        matching: matchPlan(mode),
        opsFeed: opsFeedPlan(mode),
      };
  }
}

/** Simulated users for `runLoad` at `rate` calls/s: enough riders for rides of up to ~2.5 s at that rate. */
export function loadSize(rate: number): { drivers: number; riders: number } {
  return { drivers: Math.max(10, Math.ceil(rate * 1.0)), riders: Math.max(10, Math.ceil(rate * 2.5)) };
}

/** Every load of the bench: trips of 300 ms, answers within 0-50 ms, a position every 5 s. */
export const LOAD_DEFAULTS = { tripMs: 300, acceptDelayMs: [0, 50] as [number, number], locationEveryMs: 5000, spreadM: 2000 };

/** A step is sustained when every call was dispatched in time with every invariant holding. */
export const SUSTAIN = {
  /** Achieved request rate at least this share of the step's rate. */
  minAchieved: 0.95,
  /** p99 request → dispatched at most this (ms): beyond it the backlog is growing. */
  maxP99DispatchMs: 2000,
};

/** Answers a simulated user may get in a race and that say nothing bad about the server. */
export const BENIGN_ERRORS = new Set(['ALREADY_DISPATCHED', 'DRIVER_BUSY', 'OFFER_EXPIRED', 'CALL_CANCELLED', 'NOT_OFFERED']);

export const TARGETS = {
  throughputCallsPerS: 1000,
  latencyRatio: 2,
  heapPerSocketKB: 20,
  connections: 20_000,
  restPerS: 5000,
  restAvailability: 100,
  oldRestPerS: 11.28,
  oldRestAvailability: 36.98,
  /** The ledger on PostgreSQL at `ledgerRate` calls/s: the oldest unwritten entry younger than this (s). */
  ledgerRate: 400,
  ledgerLagS: 1,
  /** PostgreSQL's writer CPU per entry (Node + its backend) at most this many times SQLite's (in-process). */
  ledgerCpuRatio: 2,
};
