/**
 * Entry point of `npm start` (and of the compiled `node dist/server/main.js`): read the
 * configuration, make sure Redis is there, start ROLE. SIGTERM, SIGINT and SIGHUP (the terminal
 * was closed) all stop it cleanly, the private redis-server (if one was started) last.
 */
import { createApp, type App } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { ensureRedis, type RedisHandle } from './embedded-redis.js';
import { createLogger, logFormat } from './log.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const format = logFormat({ isTTY: process.stdout.isTTY === true, NODE_ENV: config.NODE_ENV, LOG_FORMAT: config.LOG_FORMAT });
  const log = createLogger(config.LOG_LEVEL, config.ROLE, format);
  for (const w of config.warnings) log.warn(w);
  // Signals are handled from here on, start-up included: a stop asked for while starting waits for
  // the start to finish (or fail), then stops what was started, the private Redis last.
  let stopping = false;
  let started: Promise<{ app?: App; redis?: RedisHandle }> = Promise.resolve({});
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS + 10000);
    force.unref();
    started
      .then(async ({ app, redis }) => {
        await app?.stop();
        await redis?.stop();
      })
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  // No input may take the process down: log what escaped every handler instead of crashing.
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal));

  const start = async () => {
    const redis = await ensureRedis(config, log);
    try {
      return { app: await createApp({ ...config, REDIS_URL: redis.url }, log), redis };
    } catch (err) {
      await redis.stop();
      throw err;
    }
  };
  const starting = start();
  started = starting.catch(() => ({}));
  await starting;
}

main().catch((err: unknown) => {
  process.stderr.write(`failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
