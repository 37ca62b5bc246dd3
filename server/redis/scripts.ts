/**
 * Loads every Lua script under scripts/ once with ioredis `defineCommand` (EVALSHA with the
 * NOSCRIPT fallback), prepending the shared helpers of scripts/_lib.lua. A file is named
 * `<name>-<numberOfKeys>.lua`, as in BullMQ.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { CALL_STATUSES, TRANSITIONS } from '../../protocol/index.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'scripts');

export interface ScriptSource {
  name: string;
  numberOfKeys: number;
  lua: string;
}

let cache: ScriptSource[] | undefined;

/** Every script with its helpers prepended, read once per process. */
export function scriptSources(): ScriptSource[] {
  if (cache) return cache;
  const lib = `${transitionsLua()}\n${readFileSync(join(DIR, '_lib.lua'), 'utf8')}`;
  cache = readdirSync(DIR)
    .filter((f) => /^[a-z-]+-\d+\.lua$/.test(f))
    .map((file) => {
      const m = /^([a-z-]+)-(\d+)\.lua$/.exec(file) as RegExpExecArray;
      return { name: camel(m[1] as string), numberOfKeys: Number(m[2]), lua: `${lib}\n${readFileSync(join(DIR, file), 'utf8')}` };
    });
  return cache;
}

/** protocol/'s transition table as a Lua table: TRANSITIONS[from][to] == true for each allowed move. */
function transitionsLua(): string {
  const rows = CALL_STATUSES.map((from) => `  ${from} = { ${TRANSITIONS[from].map((to) => `${to} = true`).join(', ')} },`);
  return `-- Generated from protocol/status.ts by server/redis/scripts.ts.\nlocal TRANSITIONS = {\n${rows.join('\n')}\n}`;
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** A raw script reply: a status number first, then values (strings, numbers or nested arrays). */
export type ScriptReply = [number, ...unknown[]];
export type ScriptFn = (...keysThenArgs: (string | number)[]) => Promise<ScriptReply>;

export type ScriptName =
  | 'request' | 'offer' | 'accept' | 'reject' | 'cancel' | 'tripStep' | 'tripCancel' | 'dueTimers'
  | 'driverOnline' | 'driverOffline' | 'driverLocation' | 'driverResync' | 'driverAway' | 'waitingNear';

/** Define every script on a client and return them by name. */
export function defineScripts(redis: Redis): Record<ScriptName, ScriptFn> {
  const out: Record<string, ScriptFn> = {};
  for (const s of scriptSources()) {
    // A prefixed command name cannot clash with a client method (a pipeline has its own `reject`).
    const command = `lua_${s.name}`;
    redis.defineCommand(command, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    const fn = (redis as unknown as Record<string, ScriptFn>)[command] as ScriptFn;
    out[s.name] = fn.bind(redis);
  }
  return out;
}
