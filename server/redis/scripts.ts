/**
 * Loads the Lua scripts under scripts/ (one file per script, named by what it does) with the
 * helpers each one declares: a line `--- @include "name"` pulls in scripts/lib/name.lua (once, even
 * when several helpers include it; helpers may include others), as BullMQ's scripts do. Two helper
 * modules are generated: `transitions` (the TRANSITIONS table of protocol/status.ts) and `fail` (the
 * FAIL table of ./outcomes.ts). `runScript` runs one by name with EVALSHA (ioredis `defineCommand`,
 * with its NOSCRIPT fallback) and names the script, never its source, when Redis refuses it.
 *
 * Every key a script touches must be one of its KEYS (Redis Cluster routes a script by its KEYS,
 * and a script reaching other keys passes on one node and fails after a reshard). A standalone
 * Redis never checks that, so in test mode (NODE_ENV=test) every `redis.call` goes through a check
 * that fails the script on any key argument not in KEYS: the whole test suite proves it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { CALL_STATUSES, TRANSITIONS } from '../../protocol/index.js';
import { failLua } from './outcomes.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'scripts');
const INCLUDE = /^--- @include "([a-z-]+)"\s*$/gm;

export const SCRIPT_NAMES = [
  'request', 'waveEnd', 'ready', 'roundBegin', 'roundCommit', 'dueRegions', 'accept', 'reject', 'cancel', 'tripStep', 'tripCancel', 'dueTimers',
  'driverOnline', 'driverOffline', 'driverLocation', 'driverAway', 'waitingNear', 'endDriverOffers', 'releasePassenger', 'retire',
  'redispatch', 'driverSuspend', 'driverLift',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface ScriptSource {
  name: ScriptName;
  file: string;
  /** The helpers it pulled in, in the order they come before its own code. */
  includes: string[];
  lua: string;
}

/** Helper modules made from TypeScript, so Lua and TypeScript cannot disagree. */
const GENERATED: Readonly<Record<string, () => string>> = {
  transitions: () => {
    const rows = CALL_STATUSES.map((from) => `  ${from} = { ${TRANSITIONS[from].map((to) => `${to} = true`).join(', ')} },`);
    return `-- Generated from protocol/status.ts by server/redis/scripts.ts.\nlocal TRANSITIONS = {\n${rows.join('\n')}\n}`;
  },
  fail: failLua,
};

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** A script's text with every helper it includes (transitively) before it, each once. */
function assemble(text: string, included: string[], seen = new Set<string>()): string {
  const parts: string[] = [];
  for (const [, name] of text.matchAll(INCLUDE)) {
    if (!name || seen.has(name)) continue;
    seen.add(name);
    const generated = GENERATED[name];
    const helper = generated ? generated() : readFileSync(join(DIR, 'lib', `${name}.lua`), 'utf8');
    parts.push(assemble(helper, included, seen));
    included.push(name);
  }
  parts.push(text);
  return parts.join('\n');
}

/** Which arguments of each command the scripts use are keys: the first, or (DEL) all of them. */
const KEY_CHECK_LUA = `-- Test mode (server/redis/scripts.ts): every key a command touches must be in KEYS.
local declaredKeys = {}
for _, k in ipairs(KEYS) do declaredKeys[k] = true end
local FIRST_KEY = { get = true, set = true, hget = true, hset = true, hdel = true, hgetall = true, hkeys = true, hvals = true,
  hmget = true, hincrby = true, incr = true, zrange = true, hexists = true, zadd = true, zrem = true, pttl = true, zcard = true, zscore = true, zrangebyscore = true,
  geoadd = true, geopos = true, geosearch = true, xadd = true }
local ALL_KEYS = { del = true, unlink = true, exists = true }
local function keyChecked(command, ...)
  local name, args = string.lower(command), { ... }
  local keys = {}
  if ALL_KEYS[name] then keys = args
  elseif FIRST_KEY[name] then keys = { args[1] }
  else error('key check: add ' .. name .. ' to KEY_CHECK_LUA in server/redis/scripts.ts') end
  for _, k in ipairs(keys) do
    if not declaredKeys[k] then error('undeclared key ' .. tostring(k) .. ' in ' .. name .. ': pass it in KEYS') end
  end
  return redis.call(command, ...)
end`;

/** The test-mode wrap: the check first, then the script with every `redis.call(` through it. */
export function withKeyCheck(lua: string): string {
  return `${KEY_CHECK_LUA}\n${lua.replace(/redis\.call\(/g, 'keyChecked(')}`;
}

const checkKeys = () => process.env.NODE_ENV === 'test';
let cache: ScriptSource[] | undefined;

/** Every script with its helpers, read once per process (checked for undeclared keys in test mode). */
export function scriptSources(): ScriptSource[] {
  if (cache) return cache;
  const wrap = checkKeys() ? withKeyCheck : (lua: string) => lua;
  cache = readdirSync(DIR)
    .filter((f) => /^[a-z-]+\.lua$/.test(f))
    .map((file) => {
      const name = camel(file.slice(0, -'.lua'.length));
      if (!(SCRIPT_NAMES as readonly string[]).includes(name)) throw new Error(`scripts/${file} is not in SCRIPT_NAMES`);
      const includes: string[] = [];
      const lua = wrap(assemble(readFileSync(join(DIR, file), 'utf8'), includes));
      return { name: name as ScriptName, file, includes, lua };
    });
  return cache;
}

/** A script Redis refused or that failed while running: its name and arguments, never its source. */
export class ScriptError extends Error {
  constructor(
    readonly script: ScriptName,
    message: string,
    readonly keys: readonly string[],
    readonly args: readonly (string | number)[],
  ) {
    super(`script ${script}: ${message}`);
    this.name = 'ScriptError';
  }
}

/**
 * Test mode: every undeclared-key refusal seen in this process, also those of background work that
 * only logs its failures (the test suite's root hook fails the test that caused one).
 */
export const undeclaredKeyErrors: ScriptError[] = [];

export type RunScript = (name: ScriptName, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/** Define every script on a client; the function runs one by name with its keys and arguments. */
export function scriptRunner(redis: Redis): RunScript {
  const fns = new Map<ScriptName, (...a: (string | number)[]) => Promise<unknown>>();
  for (const s of scriptSources()) {
    // A prefixed command name cannot clash with a client method (a pipeline has its own `reject`).
    // No numberOfKeys: each call says how many keys it passes.
    const command = `lua_${s.name}`;
    redis.defineCommand(command, { lua: s.lua });
    const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[command];
    if (!fn) throw new Error(`could not define script ${s.name}`);
    fns.set(s.name, fn.bind(redis));
  }
  return async (name, keys, args) => {
    const fn = fns.get(name);
    if (!fn) throw new Error(`no script ${name}`);
    try {
      return await fn(keys.length, ...keys, ...args);
    } catch (err) {
      // A refusal by Redis itself (a Lua error, a wrong type) carries the command, whose arguments
      // can hold the whole source (the EVAL fallback): replace it. Connection failures pass as they
      // are, so they still answer UNAVAILABLE.
      if (!(err instanceof Error && 'command' in err)) throw err;
      const failure = new ScriptError(name, err.message, keys, args);
      if (failure.message.includes('undeclared key')) undeclaredKeyErrors.push(failure);
      throw failure;
    }
  };
}
