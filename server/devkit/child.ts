/**
 * Child processes for the dev kit: output collected (stdout also line by line), a wait for a line
 * and a wait for the exit, each with a deadline, a stop that sends SIGTERM and then SIGKILL after a
 * bound, and whether a pid is still alive. A child still running when this process exits is sent
 * a signal (SIGTERM unless told otherwise), so a normal exit leaves nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Stopped extends Exit {
  /** The bound ran out and the child was killed with SIGKILL. */
  forced: boolean;
}

/** Changes to this process' environment for a child: a value sets a variable, undefined removes it. */
export type EnvChanges = Record<string, string | number | undefined>;

/** This process' environment (or `base`) with `changes` applied. */
export function childEnv(changes: EnvChanges = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

export interface ChildOptions {
  /** For messages (default: the command). */
  name?: string;
  cwd?: string;
  /** Applied to this process' environment. */
  env?: EnvChanges;
  /** A process group of its own: a Ctrl-C at the terminal does not reach it. */
  detached?: boolean;
  /** 'pipe' leaves stdin open (the child sees it end when this process is gone). Default 'ignore'. */
  stdin?: 'ignore' | 'pipe';
  /** 'ignore' sends stdout and stderr nowhere. Default 'pipe' (collected). */
  output?: 'pipe' | 'ignore';
  /** Keep only the last this many characters of `output()` (default: everything). */
  keep?: number;
  /** Signal sent to it if this process exits while it runs (default SIGTERM; null: none). */
  onExit?: NodeJS.Signals | null;
  /** Called with the child as soon as it is spawned (e.g. to track it). */
  onSpawn?: (child: ChildProcess) => void;
}

export type LineListener = (line: string, stream: 'stdout' | 'stderr') => void;

export interface Child {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Lines of stdout so far (the last 10,000). */
  stdout: string[];
  /** stdout and stderr as one text, for failure messages. */
  output(): string;
  /** Every line of stdout and stderr from now on. */
  onLine(fn: LineListener): void;
  /** The first stdout line `match` accepts (one already printed included), waiting up to `ms`. */
  line(match: (line: string) => boolean, what: string, ms?: number): Promise<string>;
  /** Resolves once it has exited and its output has been read to the end. */
  exited: Promise<Exit>;
  running(): boolean;
  /** Send `signal` if it still runs. */
  signal(signal: NodeJS.Signals): void;
  /** Wait for it to exit by itself; after `ms` it is killed and this fails. */
  exit(ms?: number): Promise<Exit>;
  /** `signal` (SIGTERM), then SIGKILL if it has not exited after `ms`. */
  stop(ms?: number, signal?: NodeJS.Signals): Promise<Stopped>;
  /** SIGKILL (as a crash would), then wait for the exit. */
  kill(): Promise<Exit>;
}

const MAX_LINES = 10_000;

/** Children to signal when this process exits, with the signal each gets. */
const atExit = new Map<ChildProcess, NodeJS.Signals>();
let exitHook = false;
function signalAtExit(child: ChildProcess, signal: NodeJS.Signals): void {
  atExit.set(child, signal);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const [c, s] of atExit) {
      try {
        c.kill(s);
      } catch {
        // gone already
      }
    }
  });
}

/** `command ...args`; fails at once when it cannot be started. */
export function spawnChild(command: string, args: string[], o: ChildOptions = {}): Child {
  const name = o.name ?? command;
  const piped = (o.output ?? 'pipe') === 'pipe';
  const child = spawn(command, args, {
    cwd: o.cwd,
    env: childEnv(o.env),
    detached: o.detached ?? false,
    stdio: [o.stdin ?? 'ignore', piped ? 'pipe' : 'ignore', piped ? 'pipe' : 'ignore'],
  });
  let text = '';
  const append = (s: string) => {
    text += s;
    if (o.keep !== undefined && text.length > o.keep) text = text.slice(-o.keep);
  };
  child.on('error', (err) => append(`${name}: ${err.message}\n`));
  if (child.pid === undefined) throw new Error(`could not start ${name}: ${command} ${args.join(' ')}`);
  o.onSpawn?.(child);
  const onExit = o.onExit === undefined ? 'SIGTERM' : o.onExit;
  if (onExit) signalAtExit(child, onExit);

  const stdout: string[] = [];
  const listeners = new Set<LineListener>();
  const read = (stream: 'stdout' | 'stderr') => {
    let partial = '';
    child[stream]?.setEncoding('utf8'); // a character split between two chunks stays whole
    child[stream]?.on('data', (s: string) => {
      append(s);
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) take(l, stream);
    });
    // A last line without a newline still counts.
    child[stream]?.on('end', () => {
      if (partial) take(partial, stream);
      partial = '';
    });
  };
  const take = (l: string, stream: 'stdout' | 'stderr') => {
    if (stream === 'stdout') {
      stdout.push(l);
      if (stdout.length > MAX_LINES) stdout.shift();
    }
    for (const fn of listeners) fn(l, stream);
  };
  read('stdout');
  read('stderr');

  // 'close' comes after 'exit', once stdout and stderr have ended: every line has been seen.
  const exited = new Promise<Exit>((resolve) => child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal })));
  child.once('exit', () => atExit.delete(child));
  const running = () => child.exitCode === null && child.signalCode === null;
  const tail = () => text.slice(-4000);
  const signal = (s: NodeJS.Signals) => {
    if (running()) child.kill(s);
  };

  const proc: Child = {
    name,
    child,
    pid: child.pid,
    stdout,
    output: () => text,
    onLine: (fn) => void listeners.add(fn),
    line(match, what, ms = 30000) {
      const found = stdout.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        const listener: LineListener = (l, stream) => {
          if (stream === 'stdout' && match(l)) {
            done();
            resolve(l);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${ms} ms waiting for ${what} from ${name}:\n${tail()}`));
        }, ms);
        listeners.add(listener);
        void exited.then((e) => {
          done();
          reject(new Error(`${name} exited (${e.code ?? e.signal}) before ${what}:\n${tail()}`));
        });
      });
    },
    exited,
    running,
    signal,
    async exit(ms = 30000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          signal('SIGKILL');
          reject(new Error(`${name} did not exit within ${ms} ms:\n${tail()}`));
        }, ms);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop(ms = 15000, first: NodeJS.Signals = 'SIGTERM') {
      let forced = false;
      signal(first);
      const timer = setTimeout(() => {
        forced = running();
        signal('SIGKILL');
      }, ms);
      try {
        return { ...(await exited), forced };
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      signal('SIGKILL');
      return exited;
    },
  };
  return proc;
}

/** `node ...args` (this Node binary). */
export function spawnNode(args: string[], o: ChildOptions = {}): Child {
  return spawnChild(process.execPath, args, { name: `node ${args.join(' ')}`, ...o });
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
