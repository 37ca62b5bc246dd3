/** The Lua scripts touch only the keys they are given, and declare what they include. */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { readdirSync, readFileSync } from 'node:fs';
import { makeKeys } from '../server/redis/keys.js';
import { SCRIPT_NAMES, scriptSources, withKeyCheck } from '../server/redis/scripts.js';
import { randomPrefix, REDIS_URL } from './support/env.js';

describe('Redis keys and scripts', () => {
  it('no script builds a key: every key comes from keys.ts through the command layer, in KEYS', () => {
    for (const s of scriptSources()) {
      const own = readFileSync(new URL(`../server/redis/scripts/${s.file}`, import.meta.url), 'utf8');
      expect(own, s.name).to.not.match(/':(call|driver|drivers|calls|passenger|timers|ledger)[:']/);
    }
    for (const file of readdirSync(new URL('../server/redis/scripts/lib/', import.meta.url))) {
      expect(readFileSync(new URL(`../server/redis/scripts/lib/${file}`, import.meta.url), 'utf8'), file).to.not.match(/':(call|driver|drivers|calls|passenger|timers|ledger)[:']/);
    }
  });

  it('no script calls Redis in a way the key check cannot see (pcall, an alias, a space before the parenthesis)', () => {
    const dir = new URL('../server/redis/scripts/', import.meta.url);
    const files = [...readdirSync(dir).filter((f) => f.endsWith('.lua')), ...readdirSync(new URL('lib/', dir)).map((f) => `lib/${f}`)];
    for (const file of files) {
      const lua = readFileSync(new URL(file, dir), 'utf8');
      // `redis` only ever as `redis.call(`: no pcall, no alias, no `redis.call (`, no `redis['call']`.
      expect(lua, file).to.not.match(/\bredis\b(?!\.call\()/);
    }
  });

  it('in test mode every redis.call of every script goes through the key check, and the check refuses an undeclared key', async () => {
    expect(process.env.NODE_ENV).to.equal('test');
    for (const s of scriptSources()) {
      const check = 'return redis.call(command, ...)';
      const body = s.lua.slice(s.lua.indexOf(check) + check.length);
      expect(body, s.name).to.not.contain('redis.call(');
    }
    const redis = new Redis(REDIS_URL);
    const k = makeKeys(randomPrefix());
    try {
      const lua = withKeyCheck(`redis.call('HSET', KEYS[1], 'a', 1); return redis.call('HGET', ARGV[1], 'a')`);
      const err = await redis.eval(lua, 1, k.driver('d1'), k.driver('d2')).then(() => undefined, (e: unknown) => e);
      expect(String(err)).to.contain(`undeclared key ${k.driver('d2')} in hget`);
      expect(await redis.eval(lua, 2, k.driver('d1'), k.driver('d2'), k.driver('d1'))).to.equal('1');
    } finally {
      await redis.del(k.driver('d1'));
      redis.disconnect();
    }
  });

  it('every script is named by what it does, has a header listing its KEYS, ARGV and reply, and includes only what it declares', () => {
    const sources = scriptSources();
    expect(sources.map((s) => s.name).sort()).to.deep.equal([...SCRIPT_NAMES].sort());
    for (const s of sources) {
      expect(s.file, s.name).to.match(/^[a-z]+(-[a-z]+)*\.lua$/);
      const own = readFileSync(new URL(`../server/redis/scripts/${s.file}`, import.meta.url), 'utf8');
      expect(own, s.name).to.match(/KEYS\[1\]/);
      expect(own, s.name).to.match(/Returns/);
      // Every helper function a script calls comes from a helper it includes (directly or through another).
      for (const helper of ['loadCall', 'record', 'endOffers', 'offerLive', 'freeDriver', 'closeCall', 'waitingNearDrivers', 'callTimer', 'geoLat', 'reply', 'fail']) {
        if (new RegExp(`\\b${helper}\\(`).test(own)) expect(s.lua, `${s.name} uses ${helper}`).to.match(new RegExp(`local function ${helper}\\(`));
      }
    }
    const request = sources.find((s) => s.name === 'request')!;
    expect(request.includes).to.include.members(['transitions', 'call', 'reply', 'fail']);
    const online = sources.find((s) => s.name === 'driverOnline')!;
    expect(online.includes, 'a script gets only what it includes').to.not.include('call');
  });
});
