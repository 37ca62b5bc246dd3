/**
 * The one typed configuration schema, read from the environment at start-up.
 * A bad value stops the process with a message naming the variable; the rest of the code
 * receives a Config object and never reads process.env.
 */
import { z } from 'zod';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z.enum(['true', 'false', '1', '0']).default(def ? 'true' : 'false').transform((v) => v === 'true' || v === '1');

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEV_JWT_SECRET = 'dev-secret-change-me-dev-secret-change-me';

/** name → schema (with default); descriptions live in the README configuration table. */
const schema = z.object({
  /** HTTP / Socket.IO port (0 = any free port). */
  PORT: int(3000).pipe(z.number().max(65535)),
  /** Redis shared by all nodes. */
  REDIS_URL: z.string().url().default(DEFAULT_REDIS_URL),
  /** Which parts this process runs. */
  ROLE: z.enum(['all', 'gateway', 'dispatcher']).default('all'),
  /** Prefix of every Redis key, queue and adapter channel. */
  KEY_PREFIX: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/).default('dispatch'),
  /** SQLite ledger file (when DATABASE_URL is unset). */
  DB_PATH: z.string().min(1).default('./data/dispatch.db'),
  /** `postgres://…`: the ledger on PostgreSQL, shared by every process; unset = SQLite at DB_PATH. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// or postgresql:// URL')
    .optional(),
  /** How long a requestId is remembered: the same requestId within it returns the same call. */
  REQUEST_ID_TTL_MS: int(24 * 3600 * 1000, 1000),
  /** Ended calls leave Redis this long after they end (reads fall back to the ledger); 0 = never. At least REQUEST_ID_TTL_MS. */
  CALL_RETENTION_MS: int(7 * 24 * 3600 * 1000, 0),
  /** HS256 secret; required in production. */
  JWT_SECRET: z.string().min(16).optional(),
  NODE_ENV: z.string().default('development'),
  /** How long one offer stays open. */
  OFFER_TIMEOUT_MS: int(15000, 100),
  /** How many nearest drivers get each wave of offers. */
  OFFER_WAVE_SIZE: int(3, 1).pipe(z.number().max(100)),
  /** Search radius around the pickup, in metres. */
  MATCH_RADIUS_M: int(5000, 1),
  /** `batched`: a region's waiting calls are matched together in rounds (one optimal assignment); `greedy`: each call on its own, nearest drivers first. */
  MATCH_STRATEGY: z.enum(['batched', 'greedy']).default('batched'),
  /** Live offers one driver may hold at once (1 = one call at a time). */
  MAX_OFFERS_PER_DRIVER: int(1, 1).pipe(z.number().max(100)),
  /** Extra time a round waits to gather calls after its first call is ready (0 = starts at once). */
  MATCH_WINDOW_MS: int(0, 0).pipe(z.number().max(10000)),
  /** Calls that have waited longer than this are assigned first, oldest first. */
  MATCH_PRIORITY_AFTER_MS: int(30000, 0),
  /** H3 resolution of a region; unset = the finest whose cells' edge is at least MATCH_RADIUS_M. */
  MATCH_REGION_RESOLUTION: z.coerce.number().int().min(0).max(15).optional(),
  /** Most calls one round assigns optimally; the oldest go first, the rest wait for the next round. */
  MATCH_ROUND_MAX_CALLS: int(50, 1).pipe(z.number().max(1000)),
  /** Debug: write the input of the largest round so far (JSON) to this file, for offline replay. */
  MATCH_RECORD_FILE: z.string().min(1).optional(),
  /** Comma-separated vehicle classes a call may ask for. */
  VEHICLE_CLASSES: z
    .string()
    .default('standard,large,premium,accessible')
    .transform((s) => s.split(',').map((c) => c.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[a-z0-9_-]{1,32}$/, 'each class must be 1-32 chars of a-z 0-9 _ -')).min(1)),
  /** The class of a call or driver that names none. */
  DEFAULT_VEHICLE_CLASS: z.string().regex(/^[a-z0-9_-]{1,32}$/).default('standard'),
  /** Speed of the straight-line pickup estimate given to riders, in km/h. */
  PICKUP_SPEED_KMH: int(25, 1).pipe(z.number().max(200)),
  /** With no accept by then, the call becomes unfulfilled. */
  CALL_TIMEOUT_MS: int(120000, 100),
  /** A disconnected driver stays dispatchable this long. */
  DRIVER_GRACE_MS: int(30000, 0),
  /** Comma-separated browser origins allowed (empty = any). */
  ALLOWED_ORIGINS: z.string().default('').transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean)),
  /** pino level. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `json` lines or `pretty` lines for a person; unset = pretty on a terminal outside production (server/log.ts). */
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  /** Largest Socket.IO frame, in bytes. */
  MAX_SOCKET_FRAME_BYTES: int(64 * 1024, 1024),
  /** Largest REST JSON body, in bytes. */
  MAX_BODY_BYTES: int(16 * 1024, 256),
  /** Dispatch jobs one dispatcher works on at once. */
  DISPATCH_CONCURRENCY: int(50, 1),
  /** BullMQ job lock and stalled-job check interval: a dead dispatcher's jobs are re-run after about this long. */
  JOB_LOCK_MS: int(30000, 1000),
  /** Idle time after which another dispatcher claims a dead one's unacked ledger entries. */
  LEDGER_CLAIM_IDLE_MS: int(30000, 100),
  /** Start a private redis-server when nothing answers at the default REDIS_URL. */
  EMBEDDED_REDIS: bool(true),
  /**
   * Test seam: with REDIS_URL unset, the address checked (and used when it answers) instead of the
   * default redis://127.0.0.1:6379, so a test can make "nothing answers" true. Read only by ensureRedis.
   */
  EMBEDDED_REDIS_PROBE_URL: z.string().url().optional(),
  /** Events and REST requests one user may make per second (0 = no limit). */
  RATE_LIMIT_PER_S: int(20, 0),
  /** driver:location events one driver may send per second (0 = no limit). */
  LOCATION_RATE_LIMIT_PER_S: int(50, 0),
  /** During a trip, the ledger keeps one point of the driver's track per this many ms (0 = keep no track; else at least 1000). */
  TRACK_SAMPLE_MS: z.coerce.number().int().default(10000).refine((v) => v === 0 || v >= 1000, 'must be 0 (no track) or at least 1000'),
  /** Most track points the ledger keeps of one trip (one driver's part of a call). */
  TRACK_MAX_POINTS: int(720, 1).pipe(z.number().max(100000)),
  /** Connection attempts one address may make per 10 s (0 = no limit). */
  CONNECT_RATE_PER_IP: int(300, 0),
  /** A request that needs Redis longer than this is answered UNAVAILABLE (circuit breaker). */
  REDIS_TIMEOUT_MS: int(1000, 50),
  /** Socket.IO heartbeat: ping every this many ms … */
  SOCKET_PING_INTERVAL_MS: int(10000, 1000),
  /** … and drop a socket that has not answered within this many ms more (dead peer detection). */
  SOCKET_PING_TIMEOUT_MS: int(5000, 1000),
  /** An HTTP request whose headers have not all arrived within this many ms is dropped (slowloris). */
  HTTP_HEADERS_TIMEOUT_MS: int(10000, 100),
  /** An HTTP request not complete within this many ms is dropped. */
  HTTP_REQUEST_TIMEOUT_MS: int(30000, 100),
  /** A connection that has not authenticated within this many ms is closed. */
  AUTH_TIMEOUT_MS: int(10000, 500),
  /** On SIGTERM, how long in-flight work may take before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: int(10000, 0),
  /** Recreate the dispatch worker when Redis has been unready this long. */
  WORKER_WATCHDOG_MS: int(30000, 1000),
  /** Every process writes its heartbeat (server/ops/heartbeat.ts) this often; gone after 3 × this. */
  HEARTBEAT_MS: int(5000, 50),
  /** The operator feed: a gateway with joined admins sends an ops:delta at most this often. */
  OPS_FEED_MS: int(500, 50).pipe(z.number().max(60000)),
  /** Most online drivers and most open calls in an operator snapshot (and drivers a feed tracks). */
  OPS_SNAPSHOT_MAX: int(20000, 1).pipe(z.number().max(100000)),
  /** The operator console (/ops): a call waiting (requested/offered) longer than this is an alert. */
  OPS_ALERT_WAIT_MS: int(120000, 1000),
  /** The operator console: an online driver whose last update is older than this is drawn stale. */
  OPS_STALE_POSITION_MS: int(30000, 1000),
  /** The operator console: offers expired / offers sent above this (0..1) is an alert. */
  OPS_ALERT_EXPIRY_RATE: z.coerce.number().min(0).max(1).default(0.5),
  /** The operator console's map tiles: an http(s) URL template with {z}/{x}/{y}; unset = no tiles (a grid). */
  MAP_TILE_URL: z
    .string()
    .regex(/^https?:\/\/[^\s/]+\S*$/, 'an http:// or https:// URL template')
    .refine((s) => s.includes('{z}') && s.includes('{x}') && s.includes('{y}'), 'must contain {z}, {x} and {y}')
    .optional(),
  /** When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.string().min(8).optional(),
});

export type Config = z.infer<typeof schema> & {
  JWT_SECRET: string;
  /** True when REDIS_URL came from the environment (then no embedded Redis is started). */
  redisUrlExplicit: boolean;
  /** Messages to log once a logger exists. */
  warnings: string[];
};

export class ConfigError extends Error {}

/** Parse and check the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${String(i.path[0])}=${JSON.stringify(raw[String(i.path[0])])}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  if (!c.VEHICLE_CLASSES.includes(c.DEFAULT_VEHICLE_CLASS)) {
    throw new ConfigError(`invalid configuration:\n  DEFAULT_VEHICLE_CLASS=${JSON.stringify(c.DEFAULT_VEHICLE_CLASS)}: must be one of VEHICLE_CLASSES (${c.VEHICLE_CLASSES.join(', ')})`);
  }
  if (c.CALL_RETENTION_MS > 0 && c.CALL_RETENTION_MS < c.REQUEST_ID_TTL_MS) {
    throw new ConfigError(
      `invalid configuration:\n  CALL_RETENTION_MS=${c.CALL_RETENTION_MS}: must be 0 (keep) or at least REQUEST_ID_TTL_MS (${c.REQUEST_ID_TTL_MS}), `
        + 'or a repeated requestId could make a second call',
    );
  }
  const warnings: string[] = [];
  let secret = c.JWT_SECRET;
  if (!secret) {
    if (c.NODE_ENV === 'production') throw new ConfigError('invalid configuration:\n  JWT_SECRET: required when NODE_ENV=production');
    warnings.push('JWT_SECRET is not set: using the development secret, never do this in production');
    secret = DEV_JWT_SECRET;
  }
  return { ...c, JWT_SECRET: secret, redisUrlExplicit: raw.REDIS_URL !== undefined, warnings };
}

/** Names of every variable the schema reads (for docs and the compose/k8s checks). */
export const CONFIG_VARIABLES = Object.keys(schema.shape);
