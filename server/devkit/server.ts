/**
 * The server as a child process, as `npm start` runs it: `node --import tsx server/main.ts` from
 * the sources, `node dist/server/main.js` when compiled (or any other entry), with its environment
 * and output collected; ready when GET /readyz answers 200, waited for with a deadline and an error
 * naming what it waited for; stopped with SIGTERM, then SIGKILL after a bound (see child.ts).
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnNode, type Child, type ChildOptions } from './child.js';
import { freePort } from './ports.js';
import { GiveUp, until } from './wait.js';

/** The kit runs from the TypeScript sources (tsx) or from the compiled dist/ of `npm run build`. */
const COMPILED = import.meta.url.endsWith('.js');
/** server/main.ts beside the kit (server/main.js when the kit is compiled). */
export const SERVER_ENTRY = fileURLToPath(new URL(COMPILED ? '../main.js' : '../main.ts', import.meta.url));
/** Where server/ is: the repository, or dist/ when compiled. */
const CODE_ROOT = new URL('../../', import.meta.url);
/** The package's folder, holding package.json: where `npm start` runs (its ./data included). */
export const PACKAGE_DIR = fileURLToPath(COMPILED ? new URL('../', CODE_ROOT) : CODE_ROOT);

export type Role = 'all' | 'gateway' | 'dispatcher';

export interface ReadyOptions {
  /** Deadline (default 30 s). */
  ms?: number;
  /** Poll interval (default 100 ms). */
  tick?: number;
  /** Stop waiting (failing) when this aborts. */
  signal?: AbortSignal;
}

export interface ServerOptions extends ChildOptions {
  /** PORT; the URL is http://127.0.0.1:<port>. */
  port: number;
  /** ROLE (default: as the environment says). */
  role?: Role;
  /** The script to run (default SERVER_ENTRY); a .ts one runs with tsx's loader. */
  entry?: string;
  /** Node flags after tsx's --import and before the entry (e.g. --expose-gc, another --import). */
  nodeFlags?: string[];
}

export interface ServerProcess extends Child {
  url: string;
  port: number;
  role: Role;
  /** Resolves when GET /readyz answers 200; fails when it exits first, at the deadline, or on abort. */
  ready(o?: ReadyOptions): Promise<void>;
}

/** tsx's loader as a file URL: a child whose working folder has no node_modules finds it too. */
const tsxLoader = () => pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Spawn the server (not waiting for it). Its working folder defaults to PACKAGE_DIR. */
export function spawnServer(o: ServerOptions): ServerProcess {
  const entry = o.entry ?? SERVER_ENTRY;
  const role: Role = o.role ?? ((o.env?.ROLE ?? process.env.ROLE ?? 'all') as Role);
  const args = [...(entry.endsWith('.ts') ? ['--import', tsxLoader()] : []), ...(o.nodeFlags ?? []), entry];
  const child = spawnNode(args, {
    ...o,
    name: o.name ?? `the server (${role}, port ${o.port})`,
    cwd: o.cwd ?? PACKAGE_DIR,
    env: { ...o.env, ...(o.role ? { ROLE: o.role } : {}), PORT: o.port },
  });
  const url = `http://127.0.0.1:${o.port}`;
  return Object.assign(child, { url, port: o.port, role, ready: (r: ReadyOptions = {}) => waitReady(url, { ...r, child }) });
}

/** Spawn the server on `port` (default: a free one) and wait until it is ready; on failure it is killed. */
export async function startServer(o: Omit<ServerOptions, 'port'> & { port?: number; ready?: ReadyOptions }): Promise<ServerProcess> {
  const p = spawnServer({ ...o, port: o.port ?? (await freePort()) });
  try {
    await p.ready(o.ready);
  } catch (err) {
    await p.kill();
    throw err;
  }
  return p;
}

/** Resolves when GET `url`/readyz answers 200; with `child`, fails at once when that process exits. */
export async function waitReady(url: string, o: ReadyOptions & { child?: Child } = {}): Promise<void> {
  const ms = o.ms ?? 30000;
  const who = o.child?.name ?? `the server at ${url}`;
  const what = `${who} to answer GET ${url}/readyz with 200`;
  const tail = () => (o.child?.output() ? `\n${o.child.output().slice(-2000)}` : '');
  let last = 'nothing answered';
  try {
    await until(async () => {
      if (o.signal?.aborted) throw new GiveUp(`stopped waiting for ${what}`);
      if (o.child && !o.child.running()) {
        throw new GiveUp(`${who} exited (${o.child.child.exitCode ?? o.child.child.signalCode}) before it answered GET /readyz with 200${tail()}`);
      }
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
      if (!res) return false;
      last = `the last answer was ${res.status}`;
      await res.body?.cancel();
      return res.status === 200;
    }, what, ms, o.tick ?? 100);
  } catch (err) {
    if (err instanceof GiveUp) throw err;
    throw new Error(`${err instanceof Error ? err.message : String(err)}; ${last}${tail()}`);
  }
}

/** Whether anything answers HTTP at `url` (any status) within `ms`. */
export async function httpAnswers(url: string, ms = 2000): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(ms) }).catch(() => null);
  return res !== null;
}
