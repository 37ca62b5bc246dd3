/**
 * createApp(config) builds one process of the given ROLE: a gateway (HTTP + Socket.IO), a
 * dispatcher (BullMQ worker + ledger writer) or both. Tests start any number of them on port 0.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Emitter } from '@socket.io/redis-emitter';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Call, ServerToClientEvents } from '../protocol/index.js';
import { DriverService } from './calls/driver.js';
import { OpsService } from './calls/ops.js';
import { CallService } from './calls/service.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import { startTimerSweep } from './dispatch/timers.js';
import { watchWorker, type Watched } from './dispatch/watchdog.js';
import { createWorker } from './dispatch/worker.js';
import { createVerifier } from './gateway/auth.js';
import { bindActions, type Services } from './gateway/actions.js';
import { createBreaker } from './gateway/breaker.js';
import { createHttpApp } from './gateway/http.js';
import { Limits } from './gateway/limits.js';
import { createPipeline, type RunAction } from './gateway/pipeline.js';
import { createSocketServer, type IoServer } from './gateway/socket.js';
import { createDispatchQueue } from './jobs.js';
import { InFlight } from './inflight.js';
import { LedgerConsumer, type LedgerHealth } from './ledger/consumer.js';
import { openLedger } from './ledger/open.js';
import { startRetention } from './ledger/retention.js';
import type { Ledger } from './ledger/store.js';
import { createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { Notifier, type Broadcaster } from './notify/notifier.js';
import { createOpsFeed, type OpsFeed } from './ops/feed.js';
import { startHeartbeat } from './ops/heartbeat.js';
import { createOpsTap } from './ops/tap.js';
import { regionResolution } from './region.js';
import { checkRedisSettings } from './redis/check.js';
import { blockingConnection, commandConnection } from './redis/connect.js';
import { makeKeys } from './redis/keys.js';
import { makeCommands, matchSettings } from './redis/commands.js';

export interface App {
  /** The port actually bound (useful with PORT=0). */
  port: number;
  url: string;
  io?: IoServer;
  metrics: Metrics;
  /** Its id in the heartbeats (`P:node:<nodeId>`, server/ops/heartbeat.ts). */
  nodeId: string;
  /**
   * Graceful stop: /readyz turns 503 at once, no new connections, in-flight requests finish,
   * sockets are told to reconnect elsewhere, the worker finishes or hands back its jobs.
   */
  stop(): Promise<void>;
}

export async function createApp(config: Config, log: Logger = createLogger(config.LOG_LEVEL, config.ROLE)): Promise<App> {
  const runsGateway = config.ROLE !== 'dispatcher';
  const runsDispatcher = config.ROLE !== 'gateway';
  const keys = makeKeys(config.KEY_PREFIX);
  const closers: (() => Promise<unknown> | void)[] = [];
  const metrics = new Metrics();
  const redis = commandConnection(config.REDIS_URL, `${config.KEY_PREFIX}:${config.ROLE}`, log, metrics);
  const commands = makeCommands(redis, keys, matchSettings(config));
  const base = { config, keys, redis, commands, queue: createDispatchQueue(redis, config.KEY_PREFIX), metrics, log };
  // Every change pushed is counted, and published to the operator feeds while someone watches (ops/tap.ts).
  const tap = createOpsTap(redis, keys);
  const counted = (call: Call) => {
    metrics.transitions.inc({ status: call.status });
    tap(call);
  };
  closers.push(() => base.queue.close());
  redis.once('ready', () => void checkRedisSettings(redis, log));
  let draining = false;
  // The ledger: written by dispatchers; read by gateways where they can reach it (PostgreSQL, or
  // SQLite in the same process). A gateway alone on SQLite cannot read a dispatcher's file.
  let ledger: Ledger | undefined;
  if (runsDispatcher || config.DATABASE_URL) {
    ledger = openLedger(config, (err) => log.warn({ err }, 'ledger: a database connection failed'));
    const opened = ledger;
    closers.push(() => opened.close());
  }
  let consumer: LedgerConsumer | undefined;

  // The dispatcher pushes through the Redis emitter; a gateway through its own Socket.IO server.
  let watched: Watched | undefined;
  if (runsDispatcher) {
    metrics.addQueueDepth(() => base.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'));
    metrics.addLedgerBacklog(() => commands.ledgerBacklog(Date.now()));
    metrics.addCallTimers(() => redis.zcard(keys.callTimers));
    const sweeper = startTimerSweep(base);
    closers.push(() => sweeper.stop());
    const emitter = new Emitter<ServerToClientEvents>(redis, { key: keys.adapterChannel });
    const ctx: Context = { ...base, ledger, notify: new Notifier(emitter, counted) };
    const make = () => createWorker(ctx);
    const holder: Watched = { worker: make() };
    watched = holder;
    const unwatch = watchWorker(holder, make, config.WORKER_WATCHDOG_MS, log, () => metrics.workerRestarts.inc());
    closers.push(async () => {
      unwatch();
      // Finish the jobs in hand; past the bound, leave them to BullMQ's stalled-job recovery.
      await bounded(holder.worker.close(), config.SHUTDOWN_TIMEOUT_MS);
    });

    const writer = new LedgerConsumer({
      redis: blockingConnection(config.REDIS_URL, `${config.KEY_PREFIX}:ledger`, log, metrics),
      stream: keys.ledger, deadKey: keys.ledgerDead, ledger: ledger as Ledger, log, metrics, claimIdleMs: config.LEDGER_CLAIM_IDLE_MS,
      endedKey: config.CALL_RETENTION_MS > 0 ? keys.endedCalls : undefined,
    });
    consumer = writer;
    await writer.start();
    // Closers run in reverse: the writer stops before the ledger closes.
    closers.push(() => writer.stop());
    if (config.CALL_RETENTION_MS > 0) {
      const retention = startRetention({ commands, log, onRemoved: (n) => metrics.callsRetired.inc(n) }, config.CALL_RETENTION_MS);
      closers.push(() => retention.stop());
    }
  }

  const requests = createBreaker(config.REDIS_TIMEOUT_MS, metrics, log, 'requests');
  const locations = createBreaker(config.REDIS_TIMEOUT_MS, metrics, log, 'locations');
  closers.push(requests.shutdown, locations.shutdown);
  const inflight = new InFlight();
  let io: IoServer | undefined;
  let services: Services | undefined;
  let runAction: RunAction | undefined;
  const verify = createVerifier(config.JWT_SECRET);
  const limits = new Limits(redis, keys, config);
  if (runsGateway) {
    const viaIo: Broadcaster = { to: (room) => (io as IoServer).to(room) };
    const ctx: Context = { ...base, ledger, notify: new Notifier(viaIo, counted) };
    services = { calls: new CallService(ctx), drivers: new DriverService(ctx), ops: new OpsService(ctx) };
    // One pipeline for every action of both transports (gateway/pipeline.ts); sockets and REST are adapters.
    runAction = createPipeline({
      bindings: bindActions(services), limits, breakers: { requests: requests.breaker, locations: locations.breaker }, inflight, metrics, log,
    });
  }

  const ready = async () => {
    if (draining || redis.status !== 'ready') return false;
    await redis.ping();
    return !watched || watched.worker.isRunning();
  };
  // Dispatch goes on without the ledger: it is reported, never a reason to be unready.
  const ledgerHealth = async (): Promise<LedgerHealth | undefined> => {
    if (consumer) return consumer.health;
    if (!ledger) return undefined;
    return bounded(ledger.ping().then(() => 'ok' as const), 1000, 'degraded' as const).catch(() => 'degraded' as const);
  };
  // Node checks header/request timeouts only every connectionsCheckingInterval (30 s by default).
  const http: HttpServer = createServer(
    { connectionsCheckingInterval: Math.min(1000, config.HTTP_HEADERS_TIMEOUT_MS) },
    createHttpApp({
      log, ready, ledgerHealth, metrics, metricsToken: config.METRICS_TOKEN, maxBodyBytes: config.MAX_BODY_BYTES, allowedOrigins: config.ALLOWED_ORIGINS,
      api: runAction && { verify, runAction },
      opsConsole: runAction && {
        alertWaitMs: config.OPS_ALERT_WAIT_MS, stalePositionMs: config.OPS_STALE_POSITION_MS, expiryRate: config.OPS_ALERT_EXPIRY_RATE,
        tileUrl: config.MAP_TILE_URL ?? null, feedMs: config.OPS_FEED_MS,
        regionResolution: regionResolution(config),
      },
    }),
  );
  // Slow or oversized requests cannot hold a connection for long (slowloris, header floods).
  http.headersTimeout = config.HTTP_HEADERS_TIMEOUT_MS;
  http.requestTimeout = Math.max(config.HTTP_REQUEST_TIMEOUT_MS, config.HTTP_HEADERS_TIMEOUT_MS);
  http.maxHeadersCount = 100;
  http.keepAliveTimeout = 5000;
  let pub: Redis | undefined;
  let sub: Redis | undefined;
  if (services && runAction) {
    pub = commandConnection(config.REDIS_URL, `${config.KEY_PREFIX}:pub`, log, metrics);
    sub = blockingConnection(config.REDIS_URL, `${config.KEY_PREFIX}:sub`, log, metrics);
    const ops = services.ops;
    let feed: OpsFeed | undefined;
    io = createSocketServer(http, {
      config, keys, pub, sub, verify, services, runAction, limits, metrics, log,
      feed: (server) => (feed = createOpsFeed({
        io: server, redis, keys, commands, subscriber: () => blockingConnection(config.REDIS_URL, `${config.KEY_PREFIX}:ops`, log, metrics), summary: () => ops.summary({ id: 'ops-feed', role: 'admin' }),
        feedMs: config.OPS_FEED_MS, max: config.OPS_SNAPSHOT_MAX, log,
      })),
    });
    closers.push(() => feed?.stop());
  }

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.PORT, resolve);
  });
  const port = (http.address() as AddressInfo).port;
  // Its heartbeat, read by GET /api/ops/summary on any gateway (server/ops/deployment.ts).
  const heartbeat = startHeartbeat({ redis, keys, metrics, role: config.ROLE, intervalMs: config.HEARTBEAT_MS, log });
  log.info({ port, role: config.ROLE, prefix: config.KEY_PREFIX, node: heartbeat.nodeId }, 'listening');

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    io,
    metrics,
    nodeId: heartbeat.nodeId,
    async stop() {
      draining = true;
      // No more heartbeats: the node is reported gone once its last one is old (its figures were counted till then).
      heartbeat.stop();
      const closed = new Promise<void>((r) => http.close(() => r()));
      await inflight.idle(config.SHUTDOWN_TIMEOUT_MS);
      if (io) {
        // Closing the transport (not a server-side disconnect) makes clients reconnect, elsewhere.
        for (const socket of io.sockets.sockets.values()) socket.conn.close();
        await io.close();
      }
      http.closeAllConnections();
      await closed;
      for (const close of closers.reverse()) await close();
      pub?.disconnect();
      sub?.disconnect();
      await redis.quit().catch(() => undefined);
      log.info('stopped');
    },
  };
}

/** The work's result, or `late` when it takes longer than ms. */
function bounded<T, L = undefined>(work: Promise<T>, ms: number, late?: L): Promise<T | L> {
  return Promise.race([work, new Promise<L>((r) => setTimeout(() => r(late as L), ms).unref())]);
}
