/** Test configuration: the shared Redis, a random KEY_PREFIX per test, a temporary ledger file. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../server/config.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const SECRET = 'test-secret-0123456789abcdef';

export const randomPrefix = () => `t${randomBytes(5).toString('hex')}`;
export const tempDir = () => mkdtempSync(join(tmpdir(), 'dispatch-test-'));

/** The environment of one test stack; every process of the stack shares it. */
export function testEnv(overrides: Record<string, string | number> = {}): Record<string, string> {
  const env: Record<string, string | number> = {
    NODE_ENV: 'test',
    REDIS_URL,
    KEY_PREFIX: randomPrefix(),
    DB_PATH: join(tempDir(), 'ledger.db'),
    JWT_SECRET: SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: 0,
    // Tests connect thousands of sockets from one address; the abuse tests set their own caps.
    CONNECT_RATE_PER_IP: 0,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

export function testConfig(env: Record<string, string>, role: 'all' | 'gateway' | 'dispatcher'): Config {
  return loadConfig({ ...env, ROLE: role });
}

/** A TCP port nothing listens on right now (for child processes): the dev kit's. */
export { freePort } from '../../server/devkit/ports.js';
