/**
 * Real child processes for the start-up and shutdown tests: output collected line by line, waits
 * for a line or for the exit (each with a deadline), and whether a pid is still alive.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { until } from './wait.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** Lines of stdout so far. */
  stdout: string[];
  /** stdout and stderr as one text, for failure messages. */
  output(): string;
  /** The first stdout line that `match` accepts, waiting for it up to `ms`. */
  line(match: (line: string) => boolean, what: string, ms?: number): Promise<string>;
  /** Resolves when the process has exited (fails after `ms`, killing it). */
  exit(ms?: number): Promise<Exit>;
  /** SIGKILL if it still runs (for after-hooks). */
  kill(): void;
}

/** `node ...args`, stdout and stderr piped. */
export function spawnNodeProcess(args: string[], opts: SpawnOptions = {}): Proc {
  const child = spawn(process.execPath, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start node ${args.join(' ')}`);
  const stdout: string[] = [];
  let text = '';
  let partial = '';
  child.stdout?.on('data', (b: Buffer) => {
    text += b.toString();
    const lines = (partial + b.toString()).split('\n');
    partial = lines.pop() ?? '';
    stdout.push(...lines);
  });
  child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const running = () => child.exitCode === null && child.signalCode === null;
  const proc: Proc = {
    child,
    pid: child.pid,
    stdout,
    output: () => text,
    line: (match, what, ms = 30000) =>
      until(() => {
        const found = stdout.find(match);
        if (found === undefined && !running()) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${text}`);
        return found;
      }, what, ms),
    async exit(ms = 30000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          proc.kill();
          reject(new Error(`node ${args.join(' ')} did not exit within ${ms} ms:\n${text}`));
        }, ms);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      if (running()) child.kill('SIGKILL');
    },
  };
  return proc;
}

/** Whether a process with this pid exists (a zombie, exited but not yet reaped, counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  try {
    // Linux: the state is the field after the parenthesised command name.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc here: kill(pid, 0) succeeding is all we know
  }
}

/** Whether something answers HTTP at `url` (any status). */
export async function answersHttp(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => null);
  return res !== null;
}
