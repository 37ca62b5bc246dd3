/** The bench's command line. */
import { join } from 'node:path';
import { MATCH_SCENARIOS, type MatchScenario } from './match-plan.js';
import { SCENARIOS, type Mode, type OpsFeedPlan, type Scenario } from './plan.js';
import { ROOT } from './procs.js';

export const USAGE = `usage: npm run bench [-- options]
  --quick            short steps and smaller counts (under a minute)
  --only a,b         only these scenarios: ${SCENARIOS.join(', ')}
  --matching a,b     of the matching scenarios (issue 11), only these: ${MATCH_SCENARIOS.join(', ')}
                     (e.g. --only matching --matching hotspot,burst --quick --no-write)
  --drivers N        ops-feed: drivers online (default 20000; e.g. 2000 for a short run)
  --seconds S        ops-feed: seconds of calls per step (default 30; each phase gets --rounds steps)
  --rounds R         ops-feed: pairs of steps, console closed / open, alternating (default 2)
  --rate R           ops-feed: calls/s offered in every step (default 200)
  --admins N         ops-feed: admin consoles joined in the open phase, one per gateway in turn (default 1)
  --fallbacks N      ops-feed: when the drivers do not hold, this many more goes at half as many (default 2; 0: none)
                     (e.g. --only ops-feed --drivers 2000 --seconds 10 --rounds 1 --no-write)
  --profile          CPU-profile the product (default: in full runs, when a target is missed)
  --no-profile       never profile
  --out FILE         write the report here (default BENCHMARKS.md)
  --no-write         print only
  --json FILE        also write every figure as JSON`;

export interface CliOptions {
  mode: Mode;
  only: Scenario[];
  matching: MatchScenario[];
  profile?: boolean;
  out: string | null;
  json: string | null;
  /** ops-feed's plan changed from the command line. */
  opsFeed: Partial<OpsFeedPlan>;
  help?: boolean;
}

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { mode: 'full', only: [], matching: [], out: join(ROOT, 'BENCHMARKS.md'), json: null, opsFeed: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.mode = 'quick';
    else if (a === '--tiny') o.mode = 'tiny';
    else if (a === '--only') {
      for (const s of value().split(',').map((x) => x.trim()).filter(Boolean)) {
        if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`--only: unknown scenario ${s} (one of ${SCENARIOS.join(', ')})`);
        o.only.push(s as Scenario);
      }
    } else if (a === '--matching') {
      for (const s of value().split(',').map((x) => x.trim()).filter(Boolean)) {
        if (!(MATCH_SCENARIOS as readonly string[]).includes(s)) throw new Error(`--matching: unknown scenario ${s} (one of ${MATCH_SCENARIOS.join(', ')})`);
        o.matching.push(s as MatchScenario);
      }
    } else if (a === '--drivers' || a === '--seconds' || a === '--rounds' || a === '--rate' || a === '--admins') {
      const v = Number(value());
      const whole = a !== '--seconds';
      if (!Number.isFinite(v) || v <= 0 || (whole && !Number.isInteger(v))) throw new Error(`${a}: a positive ${whole ? 'whole ' : ''}number, not ${argv[i] ?? ''}`);
      const key = ({ '--drivers': 'drivers', '--seconds': 'phaseS', '--rounds': 'rounds', '--rate': 'rate', '--admins': 'admins' } as const)[a];
      o.opsFeed[key] = v;
    } else if (a === '--fallbacks') {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 0) throw new Error(`--fallbacks: a whole number ≥ 0, not ${argv[i] ?? ''}`);
      o.opsFeed.fallbacks = v;
    } else if (a === '--profile') o.profile = true;
    else if (a === '--no-profile') o.profile = false;
    else if (a === '--out') o.out = value();
    else if (a === '--no-write') o.out = null;
    else if (a === '--json') o.json = value();
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

