/** The matching scenarios of issue 11 (greedy against batched): shapes, sizes per mode, targets. */
import type { LatLng } from '../../protocol/index.js';

export const MATCH_SCENARIOS = ['hotspot', 'spread', 'burst', 'slow', 'open'] as const;
export type MatchScenario = (typeof MATCH_SCENARIOS)[number];

/** Seoul Station. */
export const STATION: LatLng = { lat: 37.5547, lng: 126.9707 };

/** The strategies compared, each on a fresh stack: the old behaviour as a mode, and the new default. */
export const VARIANTS = {
  greedy: { MATCH_STRATEGY: 'greedy', MAX_OFFERS_PER_DRIVER: '100' },
  batched: { MATCH_STRATEGY: 'batched' },
  'batched cap 3': { MATCH_STRATEGY: 'batched', MAX_OFFERS_PER_DRIVER: '3' },
} as const satisfies Record<string, Record<string, string>>;
export type Variant = keyof typeof VARIANTS;

export interface MatchPlan {
  scenarios: MatchScenario[];
  /** Closed loops: drivers within driverRadiusM of the station, riders' pickups within hotspotRadiusM (spread: spreadRadiusM). */
  drivers: number;
  driverRadiusM: number;
  riders: number;
  hotspotRadiusM: number;
  spreadRadiusM: number;
  warmupS: number;
  durationS: number;
  callDeadlineMs: number;
  /** `calls` requests spread over `overS` at the station, drivers within driverRadiusM; each waited for until dispatched. */
  burst: { calls: number; overS: number; driverRadiusM: number; deadlineMs: number };
  /** The hotspot closed loop with drivers answering after answerDelayMs, silentShare never answering. */
  slow: { answerDelayMs: [number, number]; silentShare: number; offerTimeoutMs: number; callTimeoutMs: number; warmupS: number; durationS: number; callDeadlineMs: number };
  /** Open loop at the station: `rate` requests a second for durationS, one rider each. */
  open: { rate: number; durationS: number; deadlineMs: number };
}

const SLOW = { answerDelayMs: [2000, 8000] as [number, number], silentShare: 0.2, offerTimeoutMs: 5000, callTimeoutMs: 60_000 };

export function matchPlan(mode: 'full' | 'quick' | 'tiny'): MatchPlan {
  const base = { drivers: 400, driverRadiusM: 800, riders: 200, hotspotRadiusM: 30, spreadRadiusM: 2000 };
  switch (mode) {
    case 'full':
      return {
        scenarios: [...MATCH_SCENARIOS], ...base, warmupS: 2, durationS: 10, callDeadlineMs: 30_000,
        burst: { calls: 300, overS: 1, driverRadiusM: 1000, deadlineMs: 14_000 },
        slow: { ...SLOW, warmupS: 5, durationS: 10, callDeadlineMs: 45_000 },
        open: { rate: 400, durationS: 10, deadlineMs: 14_000 },
      };
    case 'quick':
      return {
        scenarios: [...MATCH_SCENARIOS], ...base, warmupS: 1, durationS: 3, callDeadlineMs: 20_000,
        burst: { calls: 300, overS: 1, driverRadiusM: 1000, deadlineMs: 14_000 },
        slow: { ...SLOW, warmupS: 3, durationS: 4, callDeadlineMs: 30_000 },
        open: { rate: 400, durationS: 2, deadlineMs: 14_000 },
      };
    case 'tiny':
      return {
        scenarios: ['hotspot', 'burst'], ...base, drivers: 20, riders: 8, warmupS: 0.5, durationS: 1, callDeadlineMs: 10_000,
        burst: { calls: 12, overS: 0.5, driverRadiusM: 1000, deadlineMs: 10_000 },
        slow: { ...SLOW, answerDelayMs: [200, 800], offerTimeoutMs: 500, callTimeoutMs: 10_000, warmupS: 0.5, durationS: 1, callDeadlineMs: 10_000 },
        open: { rate: 20, durationS: 1, deadlineMs: 10_000 },
      };
  }
}

export const MATCH_TARGETS = {
  /** Hotspot closed loop at least this share of the spread one (same run). */
  hotspotVsSpread: 0.9,
  openRate: 400,
  openP99Ms: 250,
  burstP99Ms: 500,
  burstWavesPerDispatch: 1.1,
  burstBusyPerDispatch: 0.05,
  moonshotCallsPerS: 1000,
};
