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

  it('docs/protocol.md documents exactly the variables it reads, with their defaults', () => {
    const contract = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');
    const lines = contract.split('\n');
    const header = lines.findIndex((l) => l.trim() === '| variable | default | meaning |');
    expect(header, 'a configuration table headed | variable | default | meaning |').to.be.greaterThan(-1);
    const rows: string[] = [];
    for (let i = header + 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(lines[i]!);
    const names = rows.map((r) => /^\| `([A-Z_]+)` \|/.exec(r)?.[1]);
    expect(names.length).to.be.greaterThan(10);
    expect(names, 'every row names a variable as `NAME`').to.not.include(undefined);
    expect(names, 'no variable twice').to.have.length(new Set(names).size);
    expect(CONFIG_VARIABLES).to.include.members(names as string[]);
    expect(names).to.include.members(CONFIG_VARIABLES);
    // A default written as a number or as `text` is the one loadConfig gives.
    const c = loadConfig({}) as unknown as Record<string, unknown>;
    for (const row of rows) {
      const [cell, def] = row.slice(1, -1).split(' | ').map((x) => x.trim());
      const name = cell!.slice(1, -1);
      const text = /^`([^`]+)`$/.exec(def!)?.[1];
      if (/^\d+$/.test(def!)) expect(c[name], `the default of ${name}`).to.equal(Number(def));
      else if (text !== undefined) expect(String(c[name]), `the default of ${name}`).to.equal(text);
    }
  });

  it('the replay track: one point per 10 s, 720 per trip by default; 0 keeps none, else at least 1000 ms', () => {
    expect(loadConfig({})).to.include({ TRACK_SAMPLE_MS: 10000, TRACK_MAX_POINTS: 720 });
    expect(loadConfig({ TRACK_SAMPLE_MS: '0' })).to.include({ TRACK_SAMPLE_MS: 0 });
    expect(loadConfig({ TRACK_SAMPLE_MS: '1000', TRACK_MAX_POINTS: '5' })).to.include({ TRACK_SAMPLE_MS: 1000, TRACK_MAX_POINTS: 5 });
  });

  it('parses lists and numbers', () => {
    const c = loadConfig({ ALLOWED_ORIGINS: 'https://a.example, https://b.example', PORT: '0', OFFER_WAVE_SIZE: '5', REDIS_URL: 'redis://r:6380' });
    expect(c.ALLOWED_ORIGINS).to.deep.equal(['https://a.example', 'https://b.example']);
    expect(c).to.include({ PORT: 0, OFFER_WAVE_SIZE: 5, redisUrlExplicit: true });
  });

  for (const [name, value] of [['PORT', 'abc'], ['PORT', '70000'], ['ROLE', 'both'], ['OFFER_WAVE_SIZE', '0'], ['REDIS_URL', 'not a url'], ['MATCH_RADIUS_M', '-5'], ['KEY_PREFIX', 'a b'],
    ['DATABASE_URL', 'mysql://db/x'], ['DATABASE_URL', 'postgres://'], ['REQUEST_ID_TTL_MS', '10'],
    ['TRACK_SAMPLE_MS', '500'], ['TRACK_SAMPLE_MS', '-1'], ['TRACK_MAX_POINTS', '0']]) {
    it(`rejects ${name}=${value} naming the variable`, () => {
      expect(() => loadConfig({ [name as string]: value })).to.throw(ConfigError, name);
    });
  }

  it('the ledger: SQLite unless DATABASE_URL names PostgreSQL; a retention shorter than the requestId memory is refused', () => {
    expect(loadConfig({}).DATABASE_URL).to.equal(undefined);
    expect(loadConfig({ DATABASE_URL: 'postgresql://u:p@db:5432/dispatch' }).DATABASE_URL).to.equal('postgresql://u:p@db:5432/dispatch');
    expect(loadConfig({})).to.include({ REQUEST_ID_TTL_MS: 86_400_000, CALL_RETENTION_MS: 604_800_000 });
    // One requestId must never make two calls: the call may not leave Redis while its requestId is remembered.
    expect(() => loadConfig({ CALL_RETENTION_MS: '3600000' })).to.throw(ConfigError, /CALL_RETENTION_MS=3600000.*REQUEST_ID_TTL_MS/);
    expect(loadConfig({ CALL_RETENTION_MS: '0' }).CALL_RETENTION_MS).to.equal(0);
    expect(loadConfig({ CALL_RETENTION_MS: '2000', REQUEST_ID_TTL_MS: '2000' }).CALL_RETENTION_MS).to.equal(2000);
  });

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
