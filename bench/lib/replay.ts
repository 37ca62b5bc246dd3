/**
 * The quality check of issue 11: a dispatcher started with MATCH_RECORD_FILE writes the input of
 * its largest round (a RoundInput of server/dispatch/assign.ts); it is replayed here offline through
 * assignGreedy and assignOptimal, and each plan's total pickup distance is compared. A server
 * without the file, or a tree without assign.ts, is reported as such, not as a failure.
 */
import { readFileSync } from 'node:fs';

interface RoundInput {
  calls: { id: string; priority: boolean; ageMs: number; candidates: { driver: number; distanceM: number }[] }[];
  drivers: { id: string; idleMs: number; capLeft: number }[];
  waveSize: number;
}
interface Plan {
  assigned: number[];
  method: string;
}
interface AssignModule {
  assignGreedy(input: RoundInput): Plan;
  assignOptimal(input: RoundInput): Plan;
}

export interface PlanFigures {
  method: string;
  /** Calls given a driver no earlier call of the plan was given (a matching's size). */
  matched: number;
  /** Calls whose driver an earlier call of the plan already had (not counted in matched or the distance). */
  shared: number;
  totalDistanceM: number;
  meanDistanceM: number | null;
  solveMs: number;
}

export interface Replay {
  variant: string;
  /** Why there is nothing to compare (no round recorded, no assign.ts). */
  none?: string;
  calls?: number;
  drivers?: number;
  candidates?: number;
  waveSize?: number;
  greedy?: PlanFigures;
  optimal?: PlanFigures;
}

// A variable specifier: the tree type-checks and runs without the module.
const ASSIGN = '../../server/dispatch/assign.js';

function figures(input: RoundInput, solve: (i: RoundInput) => Plan): PlanFigures {
  const t = performance.now();
  const plan = solve(structuredClone(input));
  const solveMs = Math.round((performance.now() - t) * 10) / 10;
  let matched = 0;
  let total = 0;
  let shared = 0;
  const used = new Set<number>();
  plan.assigned.forEach((driver, i) => {
    if (driver < 0) return;
    const cand = input.calls[i]?.candidates.find((c) => c.driver === driver);
    if (!cand) throw new Error(`${plan.method}: call ${i} assigned driver ${driver}, not one of its candidates`);
    // Greedy with a cap above 1 may head several calls' waves with one driver: it can take one.
    if (used.has(driver)) {
      shared++;
      return;
    }
    used.add(driver);
    matched++;
    total += cand.distanceM;
  });
  return { method: plan.method, matched, shared, totalDistanceM: total, meanDistanceM: matched ? Math.round(total / matched) : null, solveMs };
}

/** At least as good for the objective: more calls matched first, then the least total distance. */
export function noWorse(a: PlanFigures, b: PlanFigures): boolean {
  return a.matched > b.matched || (a.matched === b.matched && a.totalDistanceM <= b.totalDistanceM);
}

/** `assignModule`: where assign.ts is (a test may name another). */
export async function replayRound(variant: string, file: string, assignModule = ASSIGN): Promise<Replay> {
  let input: RoundInput;
  try {
    input = JSON.parse(readFileSync(file, 'utf8')) as RoundInput;
  } catch {
    return { variant, none: 'no round recorded (MATCH_RECORD_FILE not written: a server without batched rounds)' };
  }
  let assign: AssignModule;
  try {
    assign = (await import(assignModule)) as AssignModule;
  } catch (err) {
    return { variant, none: `server/dispatch/assign.ts could not be loaded: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
  return {
    variant,
    calls: input.calls.length,
    drivers: input.drivers.length,
    candidates: input.calls.reduce((a, c) => a + c.candidates.length, 0),
    waveSize: input.waveSize,
    // The assignment compared, not the waves: greedy is each call in arrival order taking its
    // nearest free driver (a wave of one), so both plans match drivers one to one.
    greedy: figures({ ...input, waveSize: 1 }, (i) => assign.assignGreedy(i)),
    optimal: figures(input, (i) => assign.assignOptimal(i)),
  };
}
