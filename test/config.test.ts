/** The configuration schema: defaults, and a bad value stops the process naming the variable. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../server/config.js';

describe('configuration', () => {
  it('has the contract\'s defaults', () => {
    const c = loadConfig({});
    expect(c).to.include({
      PORT: 3000, REDIS_URL: 'redis://127.0.0.1:6379', ROLE: 'all', KEY_PREFIX: 'dispatch', DB_PATH: './data/dispatch.db',
      OFFER_TIMEOUT_MS: 15000, OFFER_WAVE_SIZE: 3, MATCH_RADIUS_M: 5000, CALL_TIMEOUT_MS: 120000, DRIVER_GRACE_MS: 30000,
    });
    expect(c.ALLOWED_ORIGINS).to.deep.equal([]);
    expect(c.redisUrlExplicit).to.equal(false);
    expect(c.warnings.join()).to.contain('JWT_SECRET');
  });

  it('reads every variable of the contract', () => {
    const contract = readFileSync(new URL('../../shared/PROTOCOL.md', import.meta.url), 'utf8');
    const table = contract.slice(contract.indexOf('| variable |'));
    const names = [...table.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(names.length).to.be.greaterThan(10);
    expect(CONFIG_VARIABLES).to.include.members(names as string[]);
  });

  it('parses lists and numbers', () => {
    const c = loadConfig({ ALLOWED_ORIGINS: 'https://a.example, https://b.example', PORT: '0', OFFER_WAVE_SIZE: '5', REDIS_URL: 'redis://r:6380' });
    expect(c.ALLOWED_ORIGINS).to.deep.equal(['https://a.example', 'https://b.example']);
    expect(c).to.include({ PORT: 0, OFFER_WAVE_SIZE: 5, redisUrlExplicit: true });
  });

  for (const [name, value] of [['PORT', 'abc'], ['PORT', '70000'], ['ROLE', 'both'], ['OFFER_WAVE_SIZE', '0'], ['REDIS_URL', 'not a url'], ['MATCH_RADIUS_M', '-5'], ['KEY_PREFIX', 'a b']]) {
    it(`rejects ${name}=${value} naming the variable`, () => {
      expect(() => loadConfig({ [name as string]: value })).to.throw(ConfigError, name);
    });
  }

  it('requires JWT_SECRET in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).to.throw(ConfigError, 'JWT_SECRET');
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).JWT_SECRET).to.equal('x'.repeat(32));
  });

  it('npm start with a bad value exits with a message naming the variable', function () {
    this.timeout(30000);
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'server/main.ts'], { env: { ...process.env, OFFER_TIMEOUT_MS: 'soon' }, encoding: 'utf8' });
    expect(res.status).to.equal(2);
    expect(res.stderr).to.contain('OFFER_TIMEOUT_MS');
  });
});
