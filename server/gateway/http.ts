/**
 * The HTTP side: health, readiness and metrics for every role, and for gateways the REST adapter
 * of the action table: one route per action (protocol/actions.ts), each turned into
 * `runAction(user, action, payload)`, the same pipeline the sockets run (pipeline.ts). Origin and
 * token are checked before the body is read; the payload is the path id, the body and the query
 * (restPayload), validated by the pipeline with the action's own schema.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { ACTIONS, HTTP_STATUS, restPayload, type AnyAction, type User } from '../../protocol/index.js';
import { AppError, toWireError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { bearer, type Verify } from './auth.js';
import { opsConsoleRouter, type ConsoleSettings } from '../ops/console.js';
import { docsRouter } from './docs.js';
import { originAllowed } from './origins.js';
import type { RunAction } from './pipeline.js';

export interface HttpDeps {
  log: Logger;
  /** Resolves true when this process can do its work (Redis and, for dispatchers, the queue). */
  ready: () => Promise<boolean>;
  /** The ledger's state, where this process writes or reads one: reported by /readyz, never a reason to be unready. */
  ledgerHealth?: () => Promise<'ok' | 'degraded' | undefined>;
  metrics: Metrics;
  /** When set, /metrics needs this bearer token. */
  metricsToken?: string;
  maxBodyBytes: number;
  allowedOrigins: readonly string[];
  /** Present on gateways only. */
  api?: { verify: Verify; runAction: RunAction };
  /** Gateways: the operator console's settings (GET /ops, server/ops/console.ts). */
  opsConsole?: ConsoleSettings;
}

type Locals = { user: User };

export function createHttpApp(d: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(helmet());

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res, next) => {
    Promise.all([d.ready().catch(() => false), d.ledgerHealth?.().catch(() => 'degraded' as const)]).then(([ok, ledger]) => {
      res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'unavailable', ...(ledger ? { ledger } : {}) });
    }, next);
  });
  app.get('/metrics', (req, res, next) => {
    if (d.metricsToken && bearer(req.headers.authorization) !== d.metricsToken) {
      next(new AppError('UNAUTHORIZED', 'metrics token required'));
      return;
    }
    d.metrics.registry.metrics().then((text) => {
      res.type(d.metrics.registry.contentType).send(text);
    }, next);
  });

  app.use(docsRouter());
  if (d.opsConsole) app.use(opsConsoleRouter(d.opsConsole));
  if (d.api) mountApi(app, d, d.api);

  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no such route' } });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const wire = bodyParserError(err) ?? toWireError(err, (e) => d.log.error({ err: e }, 'request failed'));
    if (wire.code === 'RATE_LIMITED') d.metrics.rateLimited.inc({ kind: 'rest' });
    res.status(HTTP_STATUS[wire.code]).json({ error: wire });
  });
  return app;
}

/** The number of `:params` in a route's path: routes with fewer go first (`/calls/active` before `/calls/:id`). */
const paramCount = (a: AnyAction) => a.route.path.split('/').filter((part) => part.startsWith(':')).length;

function mountApi(app: express.Express, d: HttpDeps, api: NonNullable<HttpDeps['api']>): void {
  const { verify, runAction } = api;
  const router = express.Router();
  router.use((req, res, next) => {
    if (!originAllowed(d.allowedOrigins, req.headers.origin)) {
      next(new AppError('FORBIDDEN', 'origin not allowed'));
      return;
    }
    verify(bearer(req.headers.authorization)).then((u) => {
      (res.locals as Locals).user = { id: u.id, role: u.role };
      next();
    }, next);
  });
  router.use(express.json({ limit: d.maxBodyBytes, strict: true }));

  for (const action of [...ACTIONS].sort((a, b) => paramCount(a) - paramCount(b))) {
    const { route } = action;
    if (!route.path.startsWith('/api/')) throw new Error(`${action.name}: a route outside /api (${route.path})`);
    router[route.method](route.path.slice('/api'.length), (req: Request, res: Response<unknown, Locals>) => {
      const id = req.params.id;
      const payload = restPayload(route, { id: typeof id === 'string' ? id : undefined, body: req.body, query: req.query });
      void runAction(res.locals.user, action, payload, 'rest').then((outcome) => {
        if (!outcome.ok) res.status(HTTP_STATUS[outcome.error.code]).json({ error: outcome.error });
        else if ('ndjson' in route) void streamLines(res.status(route.status), outcome.data as unknown as AsyncIterable<unknown>, d.log);
        else res.status(outcome.repeated && route.also ? route.also.status : route.status).json(outcome.data);
      });
    });
  }
  app.use('/api', router);
}

/** An NDJSON answer: one JSON value per line, written as the client reads them (back-pressure), stopped when it goes. */
async function streamLines(res: Response, lines: AsyncIterable<unknown>, log: Logger): Promise<void> {
  res.type('application/x-ndjson').setHeader('Cache-Control', 'no-store');
  let gone = false;
  res.once('close', () => {
    gone = true;
    res.emit('drain');
  });
  try {
    for await (const line of lines) {
      if (gone) break; // leaving the loop ends the generator (its finally runs)
      if (!res.write(`${JSON.stringify(line)}\n`)) await new Promise((r) => res.once('drain', r));
    }
  } catch (err) {
    log.error({ err }, 'stream failed');
  }
  res.end();
}

/** Framework failures (too large, not JSON, bad encoding or escape) as contract errors. */
function bodyParserError(err: unknown): { code: 'PAYLOAD_TOO_LARGE' | 'VALIDATION_FAILED'; message: string } | undefined {
  const type = (err as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large') return { code: 'PAYLOAD_TOO_LARGE', message: 'body over the limit' };
  if (type === 'entity.parse.failed') return { code: 'VALIDATION_FAILED', message: 'body: not valid JSON' };
  if (typeof type === 'string' && type.startsWith('encoding.')) return { code: 'VALIDATION_FAILED', message: 'body: unsupported encoding' };
  if (type === 'charset.unsupported') return { code: 'VALIDATION_FAILED', message: 'body: unsupported charset' };
  // Other client errors express raises itself: a bad %-escape in the path, a body that fails to inflate.
  if ((err as { status?: unknown } | null)?.status === 400) {
    return { code: 'VALIDATION_FAILED', message: err instanceof URIError ? 'path: malformed %-escape' : 'body: could not be decoded' };
  }
  return undefined;
}
