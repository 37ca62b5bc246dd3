/**
 * Loaded by mocha before any test (.mocharc.json `require`): the test suite runs in test mode,
 * where every Lua script is checked for keys it touches but was not given in KEYS
 * (server/redis/scripts.ts). Child processes the tests start get NODE_ENV=test from their env too.
 * The root hook fails the test during which any script of this process touched an undeclared key,
 * also in background work that only logs its failures.
 */
import { undeclaredKeyErrors } from '../../server/redis/scripts.js';

process.env.NODE_ENV = 'test';

export const mochaHooks = {
  afterEach(): void {
    const seen = undeclaredKeyErrors.splice(0);
    if (seen.length) throw new Error(`a script touched a key not in its KEYS: ${seen.map((e) => e.message).join('; ')}`);
  },
};
