/** The Lua scripts derive keys with the same patterns as keys.ts. */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { makeKeys } from '../server/redis/keys.js';
import { scriptSources } from '../server/redis/scripts.js';
import { REDIS_URL } from './support/env.js';

describe('Redis keys and scripts', () => {
  it('_lib.lua key helpers agree with keys.ts', async () => {
    const redis = new Redis(REDIS_URL);
    try {
      const lib = readFileSync(new URL('../server/redis/scripts/_lib.lua', import.meta.url), 'utf8');
      const got = (await redis.eval(
        `${lib}\nreturn {callKey(ARGV[1], ARGV[2]), callOffersKey(ARGV[1], ARGV[2]), driverKey(ARGV[1], ARGV[3]), driverOffersKey(ARGV[1], ARGV[3])}`,
        0, 'pfx', 'call-1', 'drv-1',
      )) as string[];
      const k = makeKeys('pfx');
      expect(got).to.deep.equal([k.call('call-1'), k.callOffers('call-1'), k.driver('drv-1'), k.driverOffers('drv-1')]);
    } finally {
      redis.disconnect();
    }
  });

  it('every script has a header listing its KEYS and ARGV, and a key count in its name', () => {
    const sources = scriptSources();
    expect(sources.map((s) => s.name)).to.include.members(['request', 'offer', 'accept', 'driverOnline', 'driverResync']);
    for (const s of sources) {
      const own = s.lua.slice(s.lua.lastIndexOf('--[['));
      expect(own, s.name).to.match(/KEYS\[1\]/);
      expect(own, s.name).to.match(/Returns/);
      expect(own, s.name).to.contain(`KEYS[${s.numberOfKeys}]`);
    }
  });
});
