/**
 * Child processes of the bench: every one is tracked and killed when the bench exits, fails or is
 * interrupted; Node children get bench/preload.ts (exit when the bench is gone, GC on SIGUSR2).
 * Also CPU accounting per process from /proc, to say where the cores went during a scenario.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnNode, type Child } from '../../server/devkit/child.js';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT = dirname(BENCH_DIR);
/** The bench preload (bench/preload.ts) as an `--import` flag. */
export const PRELOAD_IMPORT = ['--import', pathToFileURL(join(BENCH_DIR, 'preload.ts')).href];
/** `--import` flags every Node child of the bench starts with (the product's servers get tsx from the dev kit). */
export const NODE_IMPORTS = ['--import', 'tsx', ...PRELOAD_IMPORT];

const live = new Set<ChildProcess>();
/** Every pid the bench has started (checked by the tests: none may outlive the run). */
export const startedPids: number[] = [];

/** Temporary folders of the run, removed when the bench ends however it ends. */
const tempDirs = new Set<string>();

export function trackTempDir(dir: string): string {
  tempDirs.add(dir);
  return dir;
}

/** Keep a tracked folder after all (the CPU profiles). */
export function keepTempDir(dir: string): void {
  tempDirs.delete(dir);
}

export function dropTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function killAll(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}
process.on('exit', killAll);

/** Kill `child` with the others when the bench ends. */
export function track(child: ChildProcess): void {
  live.add(child);
  if (child.pid !== undefined) startedPids.push(child.pid);
  child.once('exit', () => live.delete(child));
}

/** Kill every child still running (SIGKILL); the bench's last resort on error and Ctrl-C. */
export function killAllChildren(): void {
  killAll();
}

/** Ctrl-C / SIGTERM: run `cleanup` once (bounded), then exit; a second signal exits at once. */
export function onInterrupt(cleanup: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      killAll();
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`\n${signal}: stopping every process of the bench…\n`);
    const force = setTimeout(() => {
      killAll();
      process.exit(130);
    }, 15_000);
    force.unref();
    void cleanup().finally(() => {
      killAll();
      process.exit(130);
    });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** A child of the bench: the dev kit's child process (output, lines, stop with a bound). */
export type Proc = Child;

/** How much of each child's output the bench keeps (for failure messages). */
export const KEEP = 64 * 1024;

/** The options every child of the bench is spawned with: tracked, its output bounded, in the repository. */
export const CHILD_OPTIONS = { cwd: ROOT, keep: KEEP, onSpawn: track } as const;

/** A Node child running a TypeScript file with tsx and the bench preload. */
export function startNode(name: string, script: string, env: Record<string, string>, nodeFlags: string[] = []): Proc {
  return spawnNode([...nodeFlags, ...NODE_IMPORTS, script], { ...CHILD_OPTIONS, name, env });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- CPU accounting ------------------------------------------------------------------------

const CLK_TCK = 100;

/** user + system CPU seconds of a process (all its threads), or null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Busy and total CPU seconds of the whole machine, summed over cores. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

/** CPU used during a window, in % of one core, by role, plus the rest of the machine. */
export interface CpuShare {
  seconds: number;
  /** % of one core per process role (e.g. gateway-1, dispatcher, redis, load). */
  byRole: Record<string, number>;
  /** % of one core used by every other process of the machine (other engineers' work, the kernel). */
  others: number;
  /** % of the whole machine busy (100 = every core busy). */
  machineBusy: number;
}

/** Every window measured so far (the run's noise summary averages them). */
export const measuredWindows: CpuShare[] = [];

export class CpuWindow {
  private readonly startedAt = performance.now();
  private readonly machine0 = machineCpu();
  private readonly start0 = new Map<string, { pids: number[]; secs: number }>();

  constructor(private readonly roles: () => Record<string, number[]>) {
    for (const [role, pids] of Object.entries(roles())) this.start0.set(role, { pids, secs: sum(pids.map((p) => cpuSeconds(p) ?? 0)) });
  }

  stop(): CpuShare {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const m1 = machineCpu();
    const byRole: Record<string, number> = {};
    let ours = 0;
    for (const [role, { pids, secs }] of this.start0) {
      const used = Math.max(0, sum(pids.map((p) => cpuSeconds(p) ?? 0)) - secs);
      ours += used;
      byRole[role] = round1((100 * used) / seconds);
    }
    const busy = m1.busy - this.machine0.busy;
    const total = m1.total - this.machine0.total;
    const share = {
      seconds: round1(seconds),
      byRole,
      others: round1(Math.max(0, (100 * (busy - ours)) / seconds)),
      machineBusy: total > 0 ? round1((100 * busy) / total) : 0,
    };
    measuredWindows.push(share);
    return share;
  }
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
const round1 = (n: number) => Math.round(n * 10) / 10;
