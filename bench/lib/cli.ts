/** The bench's command line. */
import { join } from 'node:path';
import { MATCH_SCENARIOS, type MatchScenario } from './match-plan.js';
import { SCENARIOS, type Mode, type Scenario } from './plan.js';
import { ROOT } from './procs.js';

export const USAGE = `usage: npm run bench [-- options]
  --quick            short steps and smaller counts (under a minute)
  --only a,b         only these scenarios: ${SCENARIOS.join(', ')}
  --matching a,b     of the matching scenarios (issue 11), only these: ${MATCH_SCENARIOS.join(', ')}
                     (e.g. --only matching --matching hotspot,burst --quick --no-write)
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
  help?: boolean;
}

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { mode: 'full', only: [], matching: [], out: join(ROOT, 'BENCHMARKS.md'), json: null };
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

