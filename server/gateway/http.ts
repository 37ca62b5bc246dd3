/**
 * The HTTP side: health, readiness and metrics for every role, and for gateways the REST mirror of
 * the socket actions. Same schemas, same services, same codes, same limits as the sockets.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { CallRequest, CancelBody, HTTP_STATUS, Id, ListQuery } from '../../protocol/index.js';
import type { User } from '../calls/service.js';
import { AppError, toWireError } from '../errors.js';
import type { Guard } from '../guard.js';
import type { InFlight } from '../inflight.js';
import type { Metrics } from '../metrics.js';
import { bearer, type Verify } from './auth.js';
import { docsRouter } from './docs.js';
import type { Services } from './handlers.js';
import type { Limits } from './limits.js';
import { originAllowed } from './origins.js';

export interface HttpDeps {
  log: Logger;
  /** Resolves true when this process can do its work (Redis and, for dispatchers, the queue). */
  ready: () => Promise<boolean>;
  metrics: Metrics;
  /** When set, /metrics needs this bearer token. */
  metricsToken?: string;
  maxBodyBytes: number;
  allowedOrigins: readonly string[];
  /** Present on gateways only. */
  api?: { verify: Verify; services: Services; limits: Limits; guard: Guard; inflight: InFlight };
}

type Locals = { user: User };
type Handler = (req: Request, res: Response<unknown, Locals>) => Promise<void>;

export function createHttpApp(d: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(helmet());

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res, next) => {
    d.ready().catch(() => false).then((ok) => {
      res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'unavailable' });
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

function mountApi(app: express.Express, d: HttpDeps, api: NonNullable<HttpDeps['api']>): void {
  const { verify, services: { calls, drivers }, limits, guard, inflight } = api;
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

  /** An async route, counted in flight, behind the per-user limit and the circuit breaker. */
  const route = (fn: Handler) => (req: Request, res: Response<unknown, Locals>, next: NextFunction) => {
    inflight
      .track(() => guard(async () => {
        await limits.take('event', res.locals.user.id);
        await fn(req, res);
      }))
      .catch(next);
  };
  const callId = (req: Request): string => {
    const parsed = Id.safeParse(req.params.id);
    if (!parsed.success) throw new AppError('VALIDATION_FAILED', 'id: must be 1-64 chars of A-Z a-z 0-9 _ -');
    return parsed.data;
  };

  router.post('/calls', route(async (req, res) => {
    const { call, created } = await calls.request(res.locals.user, CallRequest.parse(req.body ?? {}));
    res.status(created ? 201 : 200).json(call);
  }));
  router.get('/calls', route(async (req, res) => {
    res.json({ items: await calls.list(res.locals.user, ListQuery.parse(req.query)) });
  }));
  router.get('/calls/:id', route(async (req, res) => {
    res.json(await calls.get(res.locals.user, callId(req)));
  }));
  router.post('/calls/:id/accept', route(async (req, res) => {
    res.json(await drivers.accept(res.locals.user, callId(req)));
  }));
  router.post('/calls/:id/cancel', route(async (req, res) => {
    const id = callId(req);
    const { reason } = CancelBody.parse(req.body ?? {});
    res.json(await calls.cancel(res.locals.user, id, reason));
  }));
  app.use('/api', router);
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
