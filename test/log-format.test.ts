/**
 * Log format: JSON lines for machines, pretty lines for a person at a terminal. The rule (a pure
 * function), LOG_FORMAT's validation, and the real server printing either format on its stdout.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { ConfigError, loadConfig } from '../server/config.js';
import { logFormat } from '../server/log.js';
import { cleanPrefix } from '../server/devkit/prefix.js';
import { spawnServer, type ServerProcess } from '../server/devkit/server.js';
import { freePort, REDIS_URL, testEnv } from './support/env.js';

const isJson = (line: string) => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};

describe('log format', function () {
  this.timeout(60000);

  describe('the rule', () => {
    it('is pretty only on a terminal outside production when LOG_FORMAT is unset', () => {
      expect(logFormat({ isTTY: true, NODE_ENV: 'development' })).to.equal('pretty');
      expect(logFormat({ isTTY: true, NODE_ENV: 'test' })).to.equal('pretty');
      expect(logFormat({ isTTY: true, NODE_ENV: 'production' })).to.equal('json');
      expect(logFormat({ isTTY: false, NODE_ENV: 'development' })).to.equal('json');
      expect(logFormat({ isTTY: false, NODE_ENV: 'production' })).to.equal('json');
    });

    it('follows LOG_FORMAT whatever the terminal and NODE_ENV', () => {
      for (const isTTY of [true, false]) {
        for (const NODE_ENV of ['development', 'production']) {
          expect(logFormat({ isTTY, NODE_ENV, LOG_FORMAT: 'json' }), `${isTTY} ${NODE_ENV}`).to.equal('json');
          expect(logFormat({ isTTY, NODE_ENV, LOG_FORMAT: 'pretty' }), `${isTTY} ${NODE_ENV}`).to.equal('pretty');
        }
      }
    });

    it('reads LOG_FORMAT from the environment and refuses other values naming the variable', () => {
      expect(loadConfig({}).LOG_FORMAT).to.equal(undefined);
      expect(loadConfig({ LOG_FORMAT: 'pretty' }).LOG_FORMAT).to.equal('pretty');
      expect(loadConfig({ LOG_FORMAT: 'json' }).LOG_FORMAT).to.equal('json');
      expect(() => loadConfig({ LOG_FORMAT: 'yaml' })).to.throw(ConfigError, 'LOG_FORMAT');
    });
  });

  describe('the server (stdout a pipe)', () => {
    let proc: ServerProcess | undefined;
    const prefixes: string[] = [];
    afterEach(async () => {
      await proc?.kill();
      const redis = new Redis(REDIS_URL);
      try {
        for (const prefix of prefixes.splice(0)) await cleanPrefix(redis, prefix);
      } finally {
        redis.disconnect();
      }
    });

    const start = async (extra: Record<string, string>) => {
      const env = testEnv({ LOG_LEVEL: 'info' });
      prefixes.push(env.KEY_PREFIX as string);
      // LOG_FORMAT: not whatever the shell running the tests has.
      proc = spawnServer({ port: await freePort(), env: { ...env, LOG_FORMAT: undefined, ...extra } });
      return proc;
    };
    const stop = async (p: ServerProcess) => {
      // Ready first: the server handles SIGTERM once started (a SIGTERM the instant after
      // "listening" is printed can still find it without its handler).
      await p.ready();
      p.signal('SIGTERM');
      expect(await p.exit(), p.output()).to.deep.equal({ code: 0, signal: null });
    };

    it('prints pretty lines with LOG_FORMAT=pretty', async () => {
      const p = await start({ LOG_FORMAT: 'pretty' });
      const line = await p.line((l) => l.includes('listening'), 'the "listening" line');
      expect(isJson(line), line).to.equal(false);
      expect(line).to.match(/\bINFO\b.*listening/);
      await stop(p);
    });

    it('prints JSON lines when LOG_FORMAT is unset', async () => {
      const p = await start({});
      const line = await p.line((l) => l.includes('listening'), 'the "listening" line');
      expect(isJson(line), line).to.equal(true);
      expect(JSON.parse(line)).to.include({ msg: 'listening', level: 30, role: 'all' });
      await stop(p);
    });
  });
});
