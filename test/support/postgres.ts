/**
 * PostgreSQL for tests, in two forms:
 *
 * - `createTestDatabase()`: a database of its own (`ledger_<random hex>`) on the shared server at
 *   PG_URL, dropped by `drop()`. The shared server itself is never stopped or reconfigured.
 * - `startPrivatePostgres()`: a server of its own for tests that stop, restart or kill the
 *   database: initdb into a new temporary folder, a free port on 127.0.0.1, its unix socket in that
 *   folder (never next to the system server's), fsync off. Ready once a client can connect.
 *
 * The server binaries (initdb, pg_ctl) are found through TEST_PG_BINDIR, `pg_config --bindir`,
 * /usr/lib/postgresql/<newest>/bin, then PATH. initdb and postgres refuse to run as root, so as
 * root (CI) they run as the `postgres` OS user (runuser, or su where runuser is missing), in a
 * folder that user owns.
 *
 * Nothing outlives the test process when it exits, an uncaught exception included: an exit hook
 * stops (immediate mode) every private server still running and removes its folder, and drops every
 * test database not dropped yet. Only SIGKILL of the test process skips that.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import { spawnChild } from '../../server/devkit/child.js';
import { freePort, portFree } from '../../server/devkit/ports.js';
import { GiveUp, until } from './wait.js';

/** The shared server's maintenance connection: test databases are created and dropped through it. */
export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The OS user the server runs as when this process is root. */
const OS_USER = 'postgres';
/** How long a private server may take to accept connections, and a stop to finish. */
const READY_MS = 20000;
const STOP_MS = 20000;
const asRoot = process.getuid?.() === 0;

export interface TestDatabase {
  /** PG_URL with this database's name as its path. */
  url: string;
  /** DROP DATABASE … WITH (FORCE): its open connections are ended. Safe to call twice. */
  drop(): Promise<void>;
}

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** Its data folder (the server's log is `log` in it); removed by `destroy()`. */
  dir: string;
  /** pg_ctl stop -m fast; resolves once the server is gone. The data stays. */
  stop(): Promise<void>;
  /** Start again on the same port and folder (nothing if it runs); resolves once a client connects. */
  start(): Promise<void>;
  /** pg_ctl stop -m immediate, as a crash would (the next start runs recovery). */
  kill(): Promise<void>;
  /** Stop it if it runs and remove its folder. */
  destroy(): Promise<void>;
}

// ---- exit hook: private servers still running, test databases not dropped ----

/** Folder → whether its server may be running. */
const servers = new Map<string, { running: boolean }>();
/** Test databases not dropped yet. */
const databases = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const [dir, s] of servers) {
      if (s.running) spawnSync(...asOsUser(pgBin('pg_ctl'), ['stop', '-D', dir, '-m', 'immediate', '-w', '-t', '10']), { cwd: '/', stdio: 'ignore', timeout: 15000 });
      rmSync(dir, { recursive: true, force: true });
    }
    if (databases.size > 0) {
      // An exit hook cannot wait for a promise: a child node process drops them, synchronously.
      const script = `const { Client, escapeIdentifier } = require(${JSON.stringify(pgModule())});
        const c = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
        c.connect().then(async () => { for (const n of process.argv.slice(2)) await c.query('DROP DATABASE IF EXISTS ' + escapeIdentifier(n) + ' WITH (FORCE)'); })
          .catch(() => process.exitCode = 1).finally(() => c.end().catch(() => undefined));`;
      spawnSync(process.execPath, ['-e', script, PG_URL, ...databases], { stdio: 'ignore', timeout: 10000 });
    }
  });
}

/** The CommonJS entry of `pg`, for the exit hook's child process. */
const pgModule = () => createRequire(import.meta.url).resolve('pg');

// ---- the shared server: one database per test ----

/** A client of `url` for one piece of work, closed afterwards whatever happens. */
async function withClient<T>(url: string, work: (c: Client) => Promise<T>, ms = 20000): Promise<T> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: Math.min(ms, 5000), query_timeout: ms });
  c.on('error', () => undefined); // a server going away under it is reported by the pending call
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Run one statement on a connection of its own to `url` (closed afterwards): its rows. */
export function query<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  return withClient(url, async (c) => (await c.query(sql, params)).rows as T[]);
}

/** A new empty database `ledger_<random hex>` on the shared server; `drop()` removes it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `ledger_${randomBytes(6).toString('hex')}`;
  try {
    await withClient(PG_URL, (c) => c.query(`CREATE DATABASE ${escapeIdentifier(name)}`));
  } catch (err) {
    throw new Error(`cannot create a test database on ${PG_URL} (set TEST_DATABASE_URL to another server): ${(err as Error).message}`);
  }
  databases.add(name);
  hookExit();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      if (!databases.has(name)) return;
      await withClient(PG_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`));
      databases.delete(name);
    },
  };
}

// ---- private servers ----

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** "15" < "16" < "17" as versions, not strings ("9.6" before "10"). */
const byVersionDesc = (a: string, b: string) => b.localeCompare(a, 'en', { numeric: true });

let binDir: string | undefined;
/** The folder holding initdb and pg_ctl (the first candidate that has both). */
function pgBinDir(): string {
  if (binDir) return binDir;
  const candidates: string[] = [];
  if (process.env.TEST_PG_BINDIR) candidates.push(process.env.TEST_PG_BINDIR);
  const config = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8', timeout: 5000 });
  if (config.status === 0) candidates.push(config.stdout.trim());
  for (const root of ['/usr/lib/postgresql', '/usr/local/pgsql']) {
    if (!existsSync(root)) continue;
    if (root.endsWith('pgsql')) candidates.push(join(root, 'bin'));
    else candidates.push(...readdirSync(root).sort(byVersionDesc).map((v) => join(root, v, 'bin')));
  }
  candidates.push(...(process.env.PATH ?? '').split(delimiter).filter(Boolean));
  binDir = candidates.find((d) => executable(join(d, 'initdb')) && executable(join(d, 'pg_ctl')));
  if (!binDir) throw new Error(`PostgreSQL server binaries (initdb, pg_ctl) not found in ${candidates.join(', ')}: install the server or set TEST_PG_BINDIR`);
  return binDir;
}
const pgBin = (name: 'initdb' | 'pg_ctl') => join(pgBinDir(), name);

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const hasRunuser = () => spawnSync('runuser', ['--help'], { stdio: 'ignore' }).status === 0;
let runuser: boolean | undefined;

/** `command args` as the postgres OS user when this process is root, else as it is. */
function asOsUser(command: string, args: string[]): [string, string[]] {
  if (!asRoot) return [command, args];
  runuser ??= hasRunuser();
  if (runuser) return ['runuser', ['-u', OS_USER, '--', command, ...args]];
  return ['su', [OS_USER, '-s', '/bin/sh', '-c', [command, ...args].map(shellQuote).join(' ')]];
}

/** A numeric id of the postgres OS user (`id -u` / `id -g`). */
function osId(flag: '-u' | '-g'): number {
  const r = spawnSync('id', [flag, OS_USER], { encoding: 'utf8' });
  const id = Number(r.stdout.trim());
  if (r.status !== 0 || !Number.isInteger(id)) throw new Error(`running as root, but there is no OS user ${OS_USER} to run PostgreSQL as: ${r.stderr.trim()}`);
  return id;
}

/** Run a PostgreSQL tool (as the right user) to its end within `ms`; fails with its output. */
async function run(tool: 'initdb' | 'pg_ctl', args: string[], ms: number): Promise<string> {
  const [command, argv] = asOsUser(pgBin(tool), args);
  // cwd '/': the postgres user may not be allowed into this process' working directory.
  const child = spawnChild(command, argv, { name: `${tool} ${args[0]}`, cwd: '/', env: { LC_ALL: 'C' } });
  const exit = await child.exit(ms);
  if (exit.code !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${exit.code ?? exit.signal}):\n${child.output().slice(-2000)}`);
  return child.output();
}

/** The end of the server's log, for failure messages. */
const logTail = (dir: string) => {
  try {
    return readFileSync(join(dir, 'log'), 'utf8').slice(-3000);
  } catch {
    return '(no log)';
  }
};

/** Whether a client can connect to `url` and run a query within about `ms`. */
async function answers(url: string, ms = 1000): Promise<boolean> {
  try {
    return await withClient(url, async (c) => (await c.query('SELECT 1 AS one')).rows.length === 1, ms);
  } catch {
    return false;
  }
}

/**
 * A PostgreSQL server of its own: initdb into a new temporary folder, started on a free port of
 * 127.0.0.1; resolves once a client can connect (or fails with the log's end, leaving nothing behind).
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  pgBinDir(); // fail early and clearly without the binaries
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-pg-'));
  const state = { running: false };
  servers.set(dir, state);
  hookExit();
  let port = 0;
  const url = () => `postgres://postgres@127.0.0.1:${port}/postgres`;

  const up = async () => {
    // Else the connect below could be answered by whatever listens there.
    if (!(await portFree(port, '127.0.0.1'))) throw new Error(`cannot start PostgreSQL on port ${port}: the port is in use`);
    const deadline = Date.now() + READY_MS;
    const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${shellQuote(dir)} -c fsync=off -c full_page_writes=off`;
    state.running = true; // from here on a server may run: the exit hook stops it
    try {
      await run('pg_ctl', ['start', '-w', '-t', String(READY_MS / 1000), '-D', dir, '-l', join(dir, 'log'), '-o', options], READY_MS + 5000);
      await until(
        async () => {
          if (!existsSync(join(dir, 'postmaster.pid'))) throw new GiveUp('the server exited');
          return answers(url());
        },
        `PostgreSQL on port ${port} to accept a client`,
        Math.max(1000, deadline - Date.now()),
        50,
      );
    } catch (err) {
      await halt('immediate').catch(() => undefined);
      throw new Error(`PostgreSQL in ${dir} did not start on port ${port}: ${(err as Error).message}\n--- log ---\n${logTail(dir)}`);
    }
  };

  const halt = async (mode: 'fast' | 'immediate') => {
    if (!state.running) return;
    try {
      // -w: pg_ctl returns once the postmaster is gone (its pid file removed).
      await run('pg_ctl', ['stop', '-D', dir, '-m', mode, '-w', '-t', String(STOP_MS / 1000)], STOP_MS + 5000);
    } catch (err) {
      // "Is server running?": there was nothing to stop (a start that failed early).
      if (existsSync(join(dir, 'postmaster.pid'))) throw err;
    }
    state.running = false;
    await until(() => portFree(port, '127.0.0.1'), `port ${port} to be free after PostgreSQL stopped`, 5000, 25);
  };

  const destroy = async () => {
    try {
      await halt('fast').catch(() => halt('immediate'));
    } finally {
      // A server that would not stop keeps its folder: the exit hook tries again.
      if (!state.running) {
        rmSync(dir, { recursive: true, force: true });
        servers.delete(dir);
      }
    }
  };

  try {
    if (asRoot) chownSync(dir, osId('-u'), osId('-g'));
    await run('initdb', ['-D', dir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'], 60000);
    // freePort closes its probe before postgres binds: another process may take the port in
    // between, so a start that fails on a taken port is tried again on a new one.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await up();
        break;
      } catch (err) {
        if (attempt >= 3 || !/could not bind|already in use|port is in use/i.test((err as Error).message)) throw err;
      }
    }
  } catch (err) {
    await destroy().catch(() => undefined);
    throw err;
  }

  return {
    url: url(),
    port,
    dir,
    stop: () => halt('fast'),
    async start() {
      if (!state.running) await up();
    },
    kill: () => halt('immediate'),
    destroy,
  };
}
