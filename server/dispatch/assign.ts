/**
 * The planning step of a dispatch round, pure (no I/O, no clock). A round takes a region's calls
 * waiting for an offer and the free drivers near them; the plan says which driver is assigned to
 * each call and who receives each call's offer (its wave: the assigned driver first, then extras).
 *
 * The assignment is a matching (a driver is assigned to at most one call of the round) that is best
 * for one lexicographic objective: (1) the priority calls matched, oldest first (the lexicographically
 * greatest '1'/'0' string: the oldest is matched whenever any matching can match it, and so on);
 * (2) the most calls matched; (3) the least total pickup distance, as the candidates give it (with
 * a cap above 1, server/dispatch/round.ts passes an effective distance: MATCH_RADIUS_M more for each
 * offer a driver holds); (4) ties to the drivers idle
 * longest (least sum of idle ranks). assignOptimal reaches it exactly with one dense linear sum
 * assignment; assignShortestEdge is the near-linear fallback for rounds too big for it; assignGreedy
 * is the old per-call broadcast, kept for comparison.
 *
 * Waves never offer a driver more than its capLeft, never repeat a driver within a call, and never
 * use as an extra a driver assigned to another call of the round or holding another offer (so an
 * assigned driver is offered its own call alone, and the extras are spread over the calls
 * round-robin, one call each).
 */
import { linearSumAssignment } from 'linear-sum-assignment';

export interface RoundCandidate {
  /** Index into RoundInput.drivers. */
  driver: number;
  /** Integer metres, >= 0. */
  distanceM: number;
}

export interface RoundCall {
  id: string;
  /** Waited longer than MATCH_PRIORITY_AFTER_MS: such calls are assigned first, oldest first. */
  priority: boolean;
  /** ms since the call was created (bigger = older). */
  ageMs: number;
  /** Eligible drivers only (in range, right vehicle class, under their offer cap, never offered this call), any order. */
  candidates: RoundCandidate[];
}

export interface RoundDriver {
  id: string;
  /** ms since it became free: bigger = idle longer. */
  idleMs: number;
  /** Offers it may still receive (>= 1 for every driver listed). */
  capLeft: number;
  /** Live offers it holds already (with a cap above 1): a wave's extras go only to drivers holding none. */
  held?: number;
}

export interface RoundInput {
  calls: RoundCall[];
  drivers: RoundDriver[];
  /** Most drivers offered one call (>= 1). */
  waveSize: number;
}

export interface Plan {
  /** Per call (same order as input.calls): the assigned driver index, or -1. */
  assigned: number[];
  /** Per call: the wave, assigned driver first (if any), then extras; each entry a candidate of that call. */
  waves: RoundCandidate[][];
  /** Which function produced `assigned`. */
  method: 'optimal' | 'shortest-edge' | 'greedy';
}

export interface Objective {
  /** '1'/'0' per priority call, oldest first (ageMs desc, ties by input order). */
  priorityMatched: string;
  matched: number;
  distanceM: number;
  /** Sum of the idle ranks of the matched drivers (rank 0 = idle longest). */
  idleRankSum: number;
}

/**
 * Largest dense matrix (calls x (drivers + calls)) solved exactly. The solver is O(n^2 (D + n)):
 * at this size a round stays in the tens of milliseconds.
 */
export const MAX_OPTIMAL_CELLS = 300_000;

/** What every strategy derives from the input once. */
interface Prepared {
  /** Per driver: 0 = idle longest (ties by index). */
  rank: Int32Array;
  /** Per call: its candidates, one per driver (the nearest entry), by (distance, idle rank). */
  sorted: RoundCandidate[][];
  /** Priority call indices, oldest first (ties by input order). */
  priorityOrder: number[];
}

function idleRanks(drivers: RoundDriver[]): Int32Array {
  const byIdle = Array.from(drivers, (_, d) => d);
  byIdle.sort((a, b) => drivers[b]!.idleMs - drivers[a]!.idleMs || a - b);
  const rank = new Int32Array(drivers.length);
  byIdle.forEach((d, r) => (rank[d] = r));
  return rank;
}

function prepare(input: RoundInput): Prepared {
  const rank = idleRanks(input.drivers);
  const sorted = input.calls.map((call) => {
    const best = new Map<number, RoundCandidate>();
    for (const c of call.candidates) {
      const seen = best.get(c.driver);
      if (!seen || c.distanceM < seen.distanceM) best.set(c.driver, c);
    }
    return [...best.values()].sort((a, b) => a.distanceM - b.distanceM || rank[a.driver]! - rank[b.driver]!);
  });
  return { rank, sorted, priorityOrder: priorityOrder(input.calls) };
}

function priorityOrder(calls: RoundCall[]): number[] {
  const order: number[] = [];
  calls.forEach((c, i) => c.priority && order.push(i));
  return order.sort((a, b) => calls[b]!.ageMs - calls[a]!.ageMs || a - b);
}

/**
 * Each call's wave: its assigned driver, then extras round-robin by pass in input order (each pass
 * gives every call with room its nearest driver still offerable), so one call never takes all the
 * spare drivers while another has a single offer. Extras are never assigned drivers of the round,
 * nor drivers holding another offer (with a cap above 1, each extra offer a driver holds is one
 * more `busy` revocation when it wins another call).
 */
function buildWaves(input: RoundInput, prep: Prepared, assigned: number[]): RoundCandidate[][] {
  const used = new Int32Array(input.drivers.length);
  // Offers held: before this round, then with this round's.
  const holds = Int32Array.from(input.drivers, (d) => d.held ?? 0);
  const taken = new Uint8Array(input.drivers.length);
  const waves = assigned.map((d, i) => {
    if (d < 0) return [];
    used[d]!++;
    holds[d]!++;
    taken[d] = 1;
    return [prep.sorted[i]!.find((c) => c.driver === d)!];
  });
  // Extras go only to drivers holding no other offer: with a cap above 1 a driver may be assigned a
  // call while it holds another's offer (when no one else is near), but is never a wave's filler.
  {
    // A candidate skipped once (assigned, or holding an offer) stays so: one cursor per call suffices.
    const cursor = new Int32Array(waves.length);
    for (let progress = true; progress; ) {
      progress = false;
      for (let i = 0; i < waves.length; i++) {
        const wave = waves[i]!;
        if (wave.length >= input.waveSize) continue;
        const list = prep.sorted[i]!;
        let p = cursor[i]!;
        while (p < list.length) {
          const c = list[p++]!;
          if (taken[c.driver] || holds[c.driver]! > 0 || used[c.driver]! >= input.drivers[c.driver]!.capLeft) continue;
          wave.push(c);
          used[c.driver]!++;
          holds[c.driver]!++;
          progress = true;
          break;
        }
        cursor[i] = p;
      }
    }
  }
  return waves;
}

/**
 * The priority calls matched in the optimum: greedy oldest first on the transversal matroid (a call
 * joins when an augmenting path (Kuhn) matches it together with those already chosen), which is
 * exactly the lexicographically greatest set. Only feasibility: the optimiser runs afterwards.
 */
function prioritySet(input: RoundInput, prep: Prepared, order = prep.priorityOrder): Uint8Array {
  const inS = new Uint8Array(input.calls.length);
  const callOf = new Int32Array(input.drivers.length).fill(-1);
  const seen = new Int32Array(input.drivers.length).fill(-1);
  const augment = (i: number, stamp: number): boolean => {
    for (const { driver: d } of prep.sorted[i]!) {
      if (seen[d] === stamp) continue;
      seen[d] = stamp;
      if (callOf[d] === -1 || augment(callOf[d]!, stamp)) {
        callOf[d] = i;
        return true;
      }
    }
    return false;
  };
  for (const p of order) if (augment(p, p)) inS[p] = 1;
  return inS;
}

/**
 * The integer costs of the assignment, scaled by K = D (n + 1) so that every sum is exact in
 * doubles: a pair costs distanceM * K + rank, i.e. K times `distanceM + rank / (D (n + 1))`. The
 * ranks of a matching sum to less than n D < K, so they never outweigh one metre. Leaving a call
 * unmatched costs U = (n + 1)(maxDistance + 1) K, more than any change of distance plus ranks, so one
 * more call matched always wins. Any complete assignment without forbidden cells costs at most
 * B = n U; the solver's path lengths and duals stay within a few B, which must be a safe integer
 * (4 B <= 2^53 - 1: e.g. 300 calls x 700 drivers up to ~100 km pickups). Forbidden cells cost
 * F = 16 B (> 10 n U): finite, as the solver needs (an infinite cost ends its search), and so far
 * above every real path that rounding in F's own sums can never matter. Null when it does not fit.
 */
function optimalScale(input: RoundInput): { K: number; U: number; F: number } | null {
  const n = input.calls.length;
  const D = input.drivers.length;
  let maxDistance = 0;
  for (const call of input.calls) for (const c of call.candidates) maxDistance = Math.max(maxDistance, c.distanceM);
  const K = Math.max(1, D) * (n + 1);
  const U = (n + 1) * (maxDistance + 1) * K;
  const B = n * U;
  return 4 * B <= Number.MAX_SAFE_INTEGER ? { K, U, F: 16 * B } : null;
}

/**
 * The exact optimum of the objective, by one dense linear sum assignment. Rows are the calls;
 * columns the drivers that are someone's candidate, then one "left unmatched" column per call. The
 * priority calls of prioritySet() may not be left unmatched (their dummy is forbidden): they are
 * matchable together, so the optimum matches them, and the rest follows from the costs.
 * @throws RangeError when the costs cannot be exact in doubles (see optimalScale; planRound avoids it).
 */
export function assignOptimal(input: RoundInput): Plan {
  const prep = prepare(input);
  const n = input.calls.length;
  const assigned = new Array<number>(n).fill(-1);
  const colOf = new Int32Array(input.drivers.length).fill(-1);
  const cols: number[] = [];
  for (const list of prep.sorted) for (const c of list) if (colOf[c.driver] === -1) colOf[c.driver] = cols.push(c.driver) - 1;
  if (cols.length > 0) {
    const scale = optimalScale(input);
    if (!scale) throw new RangeError('round too large for exact costs: use planRound (falls back to shortest-edge)');
    const { K, U, F } = scale;
    const inS = prioritySet(input, prep);
    // When every call can have a driver at once (the common case), no call may stay unmatched:
    // the dummy columns go, and the matrix is half as wide (the solver is O(n² m)).
    const perfect = prioritySet(input, prep, Array.from(input.calls, (_, i) => i)).every((x) => x === 1);
    const width = perfect ? cols.length : cols.length + n;
    const matrix = prep.sorted.map((list, i) => {
      const row = new Array<number>(width).fill(F);
      for (const c of list) row[colOf[c.driver]!] = c.distanceM * K + prep.rank[c.driver]!;
      if (!perfect && !inS[i]) row[cols.length + i] = U;
      return row;
    });
    const { rowAssignments } = linearSumAssignment(matrix, { maximaze: false });
    for (let i = 0; i < n; i++) {
      const col = rowAssignments[i]!;
      // A dummy or forbidden cell means unmatched (never the case for a priority call of the set).
      if (col >= 0 && col < cols.length && matrix[i]![col]! < F) assigned[i] = cols[col]!;
    }
  }
  return { assigned, waves: buildWaves(input, prep, assigned), method: 'optimal' };
}

/**
 * The documented fallback for rounds too big for assignOptimal, near-linear (one sort of the
 * candidate pairs): the priority calls, oldest first, each take their nearest free driver; then the
 * shortest remaining pairs (distance, idle rank, call index) are taken while both ends are free.
 * A maximal matching, not a maximum one: it may match fewer calls, or farther, than the optimum.
 */
export function assignShortestEdge(input: RoundInput): Plan {
  const prep = prepare(input);
  const n = input.calls.length;
  const assigned = new Array<number>(n).fill(-1);
  const busy = new Uint8Array(input.drivers.length);
  for (const p of prep.priorityOrder) {
    const c = prep.sorted[p]!.find((c) => !busy[c.driver]);
    if (c) {
      assigned[p] = c.driver;
      busy[c.driver] = 1;
    }
  }
  const edgeCall: number[] = [];
  const edges: RoundCandidate[] = [];
  prep.sorted.forEach((list, i) => {
    if (assigned[i] !== -1) return;
    for (const c of list) {
      if (busy[c.driver]) continue;
      edgeCall.push(i);
      edges.push(c);
    }
  });
  const order = Uint32Array.from(edges, (_, e) => e);
  order.sort((a, b) => edges[a]!.distanceM - edges[b]!.distanceM || prep.rank[edges[a]!.driver]! - prep.rank[edges[b]!.driver]! || edgeCall[a]! - edgeCall[b]!);
  for (const e of order) {
    const i = edgeCall[e]!;
    const d = edges[e]!.driver;
    if (assigned[i] === -1 && !busy[d]) {
      assigned[i] = d;
      busy[d] = 1;
    }
  }
  return { assigned, waves: buildWaves(input, prep, assigned), method: 'shortest-edge' };
}

/**
 * The old per-call mode, kept for comparison: calls in input order each take their nearest
 * candidates (distance, idle rank) that still have capLeft, up to waveSize. A call's "assigned"
 * driver is the first of its wave; a driver with capLeft > 1 may head several waves (the old
 * broadcast), so here `assigned` need not be a matching, and waves may share drivers.
 */
export function assignGreedy(input: RoundInput): Plan {
  const prep = prepare(input);
  const used = new Int32Array(input.drivers.length);
  const waves = prep.sorted.map((list) => {
    const wave: RoundCandidate[] = [];
    for (const c of list) {
      if (wave.length >= input.waveSize) break;
      if (used[c.driver]! >= input.drivers[c.driver]!.capLeft) continue;
      used[c.driver]!++;
      wave.push(c);
    }
    return wave;
  });
  return { assigned: waves.map((w) => w[0]?.driver ?? -1), waves, method: 'greedy' };
}

/**
 * The plan of a round. 'batched': optimal when calls.length <= maxCalls, the dense matrix
 * (calls x (drivers + calls)) <= MAX_OPTIMAL_CELLS and the costs are exact in doubles (see
 * optimalScale), else shortest-edge. 'greedy': the old per-call mode.
 */
export function planRound(input: RoundInput, strategy: 'batched' | 'greedy', maxCalls: number): Plan {
  if (strategy === 'greedy') return assignGreedy(input);
  const n = input.calls.length;
  const fits = n <= maxCalls && n * (input.drivers.length + n) <= MAX_OPTIMAL_CELLS && optimalScale(input) !== null;
  return fits ? assignOptimal(input) : assignShortestEdge(input);
}

/**
 * The objective vector of a matching (`assigned[i]` a driver index or -1, per call).
 * @throws RangeError when a pair is not a candidate of its call.
 */
export function objective(input: RoundInput, assigned: number[]): Objective {
  const rank = idleRanks(input.drivers);
  let priorityMatched = '';
  for (const p of priorityOrder(input.calls)) priorityMatched += assigned[p]! >= 0 ? '1' : '0';
  let matched = 0;
  let distanceM = 0;
  let idleRankSum = 0;
  input.calls.forEach((call, i) => {
    const d = assigned[i]!;
    if (d < 0) return;
    let best = Infinity;
    for (const c of call.candidates) if (c.driver === d) best = Math.min(best, c.distanceM);
    if (best === Infinity) throw new RangeError(`driver ${d} is not a candidate of call ${call.id}`);
    matched++;
    distanceM += best;
    idleRankSum += rank[d]!;
  });
  return { priorityMatched, matched, distanceM, idleRankSum };
}

/** Compare two objectives of the same round: negative when a is better. */
export function compareObjectives(a: Objective, b: Objective): number {
  if (a.priorityMatched !== b.priorityMatched) return a.priorityMatched > b.priorityMatched ? -1 : 1;
  return b.matched - a.matched || a.distanceM - b.distanceM || a.idleRankSum - b.idleRankSum;
}
