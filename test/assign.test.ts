/**
 * The planning step of a round (server/dispatch/assign.ts), pure: the optimal assignment against a
 * brute force over every matching of small random rounds, the wave and cap invariants of all three
 * strategies, and the fallback rules of planRound.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  assignGreedy,
  assignOptimal,
  assignShortestEdge,
  compareObjectives,
  MAX_OPTIMAL_CELLS,
  objective,
  planRound,
  type Objective,
  type Plan,
  type RoundCall,
  type RoundInput,
} from '../server/dispatch/assign.js';
import { mulberry32 } from './support/prng.js';

/** The best objective over every matching of candidate pairs (small rounds only). */
function bruteForce(input: RoundInput): Objective {
  const assigned = new Array<number>(input.calls.length).fill(-1);
  const busy = new Set<number>();
  let best: Objective | undefined;
  const walk = (i: number) => {
    if (i === input.calls.length) {
      const o = objective(input, assigned);
      if (!best || compareObjectives(o, best) < 0) best = o;
      return;
    }
    walk(i + 1);
    for (const { driver } of input.calls[i]!.candidates) {
      if (busy.has(driver)) continue;
      busy.add(driver);
      assigned[i] = driver;
      walk(i + 1);
      assigned[i] = -1;
      busy.delete(driver);
    }
  };
  walk(0);
  return best!;
}

/**
 * The invariants of a plan. matching: `assigned` is a matching and extras are never assigned drivers
 * of the round (optimal, shortest-edge); else the greedy's own rule (assigned = head of its wave).
 */
function checkPlan(input: RoundInput, plan: Plan, matching: boolean): void {
  const n = input.calls.length;
  expect(plan.assigned).to.have.length(n);
  expect(plan.waves).to.have.length(n);
  const roundAssigned = new Set(plan.assigned.filter((d) => d >= 0));
  if (matching) expect(roundAssigned.size).to.equal(plan.assigned.filter((d) => d >= 0).length, 'a driver assigned twice');
  const offers = new Array<number>(input.drivers.length).fill(0);
  plan.waves.forEach((wave, i) => {
    const call = input.calls[i]!;
    const d = plan.assigned[i]!;
    if (d >= 0) {
      expect(call.candidates.some((c) => c.driver === d), 'assigned pair not a candidate').to.be.true;
      expect(wave[0]?.driver).to.equal(d, 'wave does not start with the assigned driver');
    }
    if (!matching) expect(d).to.equal(wave[0]?.driver ?? -1);
    expect(wave.length).to.be.at.most(input.waveSize);
    expect(new Set(wave.map((c) => c.driver)).size).to.equal(wave.length, 'driver twice in a wave');
    for (const c of wave) {
      expect(call.candidates.some((k) => k.driver === c.driver && k.distanceM === c.distanceM), 'wave entry not a candidate').to.be.true;
      offers[c.driver]!++;
    }
    if (matching) for (const c of wave.slice(d >= 0 ? 1 : 0)) expect(roundAssigned.has(c.driver), 'extra is an assigned driver').to.be.false;
  });
  // A round's extras hold no other offer, of this plan or from before.
  if (matching) {
    plan.waves.forEach((wave, i) => {
      for (const c of wave.slice(plan.assigned[i]! >= 0 ? 1 : 0)) {
        expect(offers[c.driver], `extra ${c.driver} holds another offer of the plan`).to.equal(1);
        expect(input.drivers[c.driver]!.held ?? 0, `extra ${c.driver} held an offer already`).to.equal(0);
      }
    });
  }
  offers.forEach((k, d) => expect(k).to.be.at.most(input.drivers[d]!.capLeft, `driver ${d} over its cap`));
  // Waves are full: a call with room has no candidate left that it could still be offered.
  plan.waves.forEach((wave, i) => {
    if (wave.length >= input.waveSize) return;
    for (const c of input.calls[i]!.candidates) {
      const offerable = matching
        ? !roundAssigned.has(c.driver) && offers[c.driver] === 0 && (input.drivers[c.driver]!.held ?? 0) === 0
        : !wave.some((w) => w.driver === c.driver) && offers[c.driver]! < input.drivers[c.driver]!.capLeft;
      expect(offerable, `call ${i} could still offer driver ${c.driver}`).to.be.false;
    }
  });
}

const distance = fc.oneof(fc.constantFrom(0, 100, 500, 500, 1000, 2000), fc.integer({ min: 0, max: 2000 }));

const smallRound: fc.Arbitrary<RoundInput> = fc
  .record({ nCalls: fc.integer({ min: 1, max: 5 }), nDrivers: fc.integer({ min: 1, max: 6 }), waveSize: fc.integer({ min: 1, max: 4 }) })
  .chain(({ nCalls, nDrivers, waveSize }) => {
    const indices = Array.from({ length: nDrivers }, (_, d) => d);
    const call = fc.record({
      priority: fc.boolean(),
      ageMs: fc.integer({ min: 0, max: 3 }).map((m) => m * 60_000),
      picked: fc.shuffledSubarray(indices),
      distances: fc.array(distance, { minLength: nDrivers, maxLength: nDrivers }),
    });
    const driver = fc.record({ idleMs: fc.integer({ min: 0, max: 3 }).map((m) => m * 30_000), capLeft: fc.integer({ min: 1, max: 3 }) });
    return fc.record({
      calls: fc.array(call, { minLength: nCalls, maxLength: nCalls }),
      drivers: fc.array(driver, { minLength: nDrivers, maxLength: nDrivers }),
      waveSize: fc.constant(waveSize),
    });
  })
  .map(({ calls, drivers, waveSize }) => ({
    calls: calls.map((c, i): RoundCall => ({
      id: `c${i}`,
      priority: c.priority,
      ageMs: c.ageMs,
      candidates: c.picked.map((d) => ({ driver: d, distanceM: c.distances[d]! })),
    })),
    drivers: drivers.map((d, i) => ({ id: `d${i}`, ...d })),
    waveSize,
  }));


/** A hotspot: every driver within maxM of every call. */
function hotspot(nCalls: number, nDrivers: number, seed: number, maxM = 800): RoundInput {
  const rnd = mulberry32(seed);
  const int = (k: number) => Math.floor(rnd() * k);
  return {
    calls: Array.from({ length: nCalls }, (_, i) => ({
      id: `c${i}`,
      priority: rnd() < 0.1,
      ageMs: int(300_000),
      candidates: Array.from({ length: nDrivers }, (_, d) => ({ driver: d, distanceM: int(maxM + 1) })),
    })),
    drivers: Array.from({ length: nDrivers }, (_, d) => ({ id: `d${d}`, idleMs: int(600_000), capLeft: 1 + int(3) })),
    waveSize: 3,
  };
}

const driver = (id: string, idleMs = 0, capLeft = 1) => ({ id, idleMs, capLeft });

describe('round assignment (assign.ts)', () => {
  it('optimal equals the brute-force optimum over every matching, with sound waves', () => {
    fc.assert(
      fc.property(smallRound, (input) => {
        const plan = assignOptimal(input);
        expect(plan.method).to.equal('optimal');
        checkPlan(input, plan, true);
        const best = bruteForce(input);
        const got = objective(input, plan.assigned);
        // Includes the priority string: every call of the lexicographic priority set is matched.
        expect(got.priorityMatched).to.equal(best.priorityMatched);
        expect(compareObjectives(got, best), JSON.stringify({ got, best })).to.equal(0);
      }),
      { numRuns: 300 },
    );
  });

  it('shortest-edge and greedy plans keep the wave and cap invariants; shortest-edge is never better than optimal', () => {
    fc.assert(
      fc.property(smallRound, (input) => {
        const edge = assignShortestEdge(input);
        expect(edge.method).to.equal('shortest-edge');
        checkPlan(input, edge, true);
        expect(compareObjectives(objective(input, edge.assigned), objective(input, assignOptimal(input).assigned))).to.be.at.least(0);
        const greedy = assignGreedy(input);
        expect(greedy.method).to.equal('greedy');
        checkPlan(input, greedy, false);
        expect(planRound(input, 'greedy', 100)).to.deep.equal(greedy);
      }),
      { numRuns: 300 },
    );
  });

  it('beats greedy on the crossing case: total distance 350 m instead of 1100 m', () => {
    const input: RoundInput = {
      calls: [
        { id: 'a', priority: false, ageMs: 0, candidates: [{ driver: 0, distanceM: 100 }, { driver: 1, distanceM: 200 }] },
        { id: 'b', priority: false, ageMs: 0, candidates: [{ driver: 1, distanceM: 1000 }, { driver: 0, distanceM: 150 }] },
      ],
      drivers: [driver('x'), driver('y')],
      waveSize: 1,
    };
    const optimal = assignOptimal(input);
    const greedy = assignGreedy(input);
    expect(optimal.assigned).to.deep.equal([1, 0]);
    expect(greedy.assigned).to.deep.equal([0, 1]);
    expect(objective(input, optimal.assigned).distanceM).to.equal(350);
    expect(objective(input, greedy.assigned).distanceM).to.equal(1100);
    expect(optimal.waves).to.deep.equal([[{ driver: 1, distanceM: 200 }], [{ driver: 0, distanceM: 150 }]]);
  });

  it('gives the only driver to the old priority call, though a fresh call is nearer', () => {
    const input: RoundInput = {
      calls: [
        { id: 'fresh', priority: false, ageMs: 5_000, candidates: [{ driver: 0, distanceM: 100 }] },
        { id: 'old', priority: true, ageMs: 240_000, candidates: [{ driver: 0, distanceM: 3000 }] },
        { id: 'older', priority: true, ageMs: 300_000, candidates: [{ driver: 1, distanceM: 50 }] },
      ],
      drivers: [driver('x', 0, 2), driver('y', 0, 2)],
      waveSize: 2,
    };
    for (const plan of [assignOptimal(input), assignShortestEdge(input)]) {
      expect(plan.assigned, plan.method).to.deep.equal([-1, 0, 1]);
      // Assigned drivers are never extras: the fresh call gets no offer this round.
      expect(plan.waves[0]).to.deep.equal([]);
    }
    expect(objective(input, [-1, 0, 1])).to.deep.equal({ priorityMatched: '11', matched: 2, distanceM: 3050, idleRankSum: 1 });
    expect(assignGreedy(input).assigned).to.deep.equal([0, 0, 1]);
  });

  it('matches one more call rather than saving distance, and breaks distance ties to the driver idle longest', () => {
    const more: RoundInput = {
      calls: [
        { id: 'a', priority: false, ageMs: 0, candidates: [{ driver: 0, distanceM: 0 }, { driver: 1, distanceM: 2000 }] },
        { id: 'b', priority: false, ageMs: 0, candidates: [{ driver: 0, distanceM: 2000 }] },
      ],
      drivers: [driver('x'), driver('y')],
      waveSize: 1,
    };
    expect(assignOptimal(more).assigned).to.deep.equal([1, 0]);
    const tie: RoundInput = {
      calls: [{ id: 'a', priority: false, ageMs: 0, candidates: [{ driver: 0, distanceM: 500 }, { driver: 1, distanceM: 500 }, { driver: 2, distanceM: 400 }] }],
      drivers: [driver('x', 10_000), driver('y', 90_000), driver('z', 0, 1)],
      waveSize: 3,
    };
    const plan = assignOptimal(tie);
    expect(plan.assigned).to.deep.equal([2]);
    expect(plan.waves[0]!.map((c) => c.driver)).to.deep.equal([2, 1, 0]);
  });

  it('hands extras round-robin by pass, only to drivers holding no other offer', () => {
    const at = (...m: number[]) => m.map((distanceM, d) => ({ driver: d, distanceM }));
    const input: RoundInput = {
      calls: [
        { id: 'a', priority: false, ageMs: 0, candidates: at(100, 200, 300, 400) },
        { id: 'b', priority: false, ageMs: 0, candidates: at(300, 100, 350, 400) },
      ],
      drivers: [driver('w'), driver('x'), driver('y', 0, 1), driver('z', 0, 2)],
      waveSize: 4,
    };
    const plan = assignOptimal(input);
    expect(plan.assigned).to.deep.equal([0, 1]);
    // Pass 1: a takes y (its nearest unassigned), b takes z; then both hold an offer (z could hold
    // two), so no call takes more.
    expect(plan.waves.map((w) => w.map((c) => c.driver))).to.deep.equal([[0, 2], [1, 3]]);
    checkPlan(input, plan, true);
  });

  it('solves a 200 x 400 hotspot exactly; planRound falls back to shortest-edge past its limits', () => {
    const input = hotspot(200, 400, 7);
    const plan = planRound(input, 'batched', 200);
    expect(plan.method).to.equal('optimal');
    checkPlan(input, plan, true);
    const got = objective(input, plan.assigned);
    expect(got.matched).to.equal(200);
    expect(got.priorityMatched).to.match(/^1*$/);
    const edge = assignShortestEdge(input);
    checkPlan(input, edge, true);
    expect(compareObjectives(got, objective(input, edge.assigned))).to.be.at.most(0);

    const big = hotspot(250, 300, 8);
    const fallback = planRound(big, 'batched', 200);
    expect(fallback.method).to.equal('shortest-edge');
    checkPlan(big, fallback, true);
    expect(objective(big, fallback.assigned).matched).to.equal(250);
  });

  it('planRound falls back when the matrix is too big or the costs cannot be exact; assignOptimal refuses the latter', () => {
    const rnd = mulberry32(3);
    const wide: RoundInput = {
      calls: Array.from({ length: 100 }, (_, i) => ({
        id: `c${i}`,
        priority: false,
        ageMs: 0,
        candidates: Array.from({ length: 5 }, () => ({ driver: Math.floor(rnd() * 3000), distanceM: Math.floor(rnd() * 800) })),
      })),
      drivers: Array.from({ length: 3000 }, (_, d) => driver(`d${d}`)),
      waveSize: 2,
    };
    expect(100 * (3000 + 100)).to.be.above(MAX_OPTIMAL_CELLS);
    expect(planRound(wide, 'batched', 200).method).to.equal('shortest-edge');
    const far: RoundInput = {
      calls: [{ id: 'a', priority: false, ageMs: 0, candidates: [{ driver: 0, distanceM: 2 ** 52 }] }],
      drivers: [driver('x')],
      waveSize: 1,
    };
    expect(planRound(far, 'batched', 200).method).to.equal('shortest-edge');
    expect(() => assignOptimal(far)).to.throw(RangeError);
  });

  it('handles empty rounds and calls without candidates', () => {
    const empty: RoundInput = { calls: [], drivers: [], waveSize: 3 };
    expect(assignOptimal(empty)).to.deep.equal({ assigned: [], waves: [], method: 'optimal' });
    const lonely: RoundInput = { calls: [{ id: 'a', priority: true, ageMs: 1, candidates: [] }], drivers: [driver('x')], waveSize: 3 };
    for (const plan of [assignOptimal(lonely), assignShortestEdge(lonely), assignGreedy(lonely)]) expect(plan.assigned).to.deep.equal([-1]);
    expect(objective(lonely, [-1]).priorityMatched).to.equal('0');
  });
});
