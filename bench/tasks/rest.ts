/**
 * REST load (in a load worker): autocannon posting `POST /api/calls` over `connections` keep-alive
 * connections spread over the gateways, every request a new passenger (its own token) with a new
 * requestId, so every request is a real new call. Availability = 2xx answers / requests made
 * (errors and timeouts count as unavailable).
 */
import { createHmac, randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import type { TaskContext } from '../lib/ipc.js';

export interface RestArgs {
  urls: string[];
  /** HS256 secret of the tokens (product); the raw server ignores them. */
  secret: string;
  connections: number;
  durationS: number;
  /** Tokens to mint up front: more than the requests the run can make. */
  tokens: number;
  path?: string;
}

export interface RestResult {
  requests: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  durationS: number;
  /** 2xx answers per second. */
  okPerS: number;
  /** Every answer per second. */
  perS: number;
  /** ok2xx / (every request made), in %. */
  availability: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Requests beyond the minted tokens (they reuse a passenger; 0 expected). */
  tokensWrapped: boolean;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** A compact HS256 JWT (the same claims clients/cli/token.ts puts in), signed synchronously. */
export function hs256(secret: string, sub: string, role: string, ttlS = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify({ role, sub, iat: now, exp: now + ttlS }));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export async function rest(a: RestArgs, ctx: TaskContext): Promise<RestResult> {
  const run = randomBytes(3).toString('hex');
  const tokens = Array.from({ length: a.tokens }, (_, i) => hs256(a.secret, `rest-${run}-p${i}`, 'passenger'));
  let n = 0;
  let wrapped = false;
  const body = (i: number) => JSON.stringify({
    requestId: `rq-${run}-${i}`,
    pickup: { lat: 37.5663 + ((i % 200) - 100) * 1e-4, lng: 126.9779 + ((i % 173) - 86) * 1e-4 },
    dropoff: { lat: 37.5563, lng: 126.9879 },
  });
  const instance = autocannon({
    url: a.urls,
    connections: a.connections,
    duration: a.durationS,
    timeout: 10,
    requests: [{
      method: 'POST',
      path: a.path ?? '/api/calls',
      setupRequest: (req) => {
        const i = n++;
        if (i >= tokens.length) wrapped = true;
        return {
          ...req,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i % tokens.length] as string}` },
          body: body(i),
        };
      },
    }],
  });
  ctx.signal.addEventListener('abort', () => instance.stop(), { once: true });
  const r = await new Promise<autocannon.Result>((resolve) => instance.on('done', resolve));
  const statusCodes: Record<string, number> = {};
  let answered = 0;
  let ok2xx = 0;
  for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {})) {
    statusCodes[code] = Number(count);
    answered += Number(count);
    if (code.startsWith('2')) ok2xx += Number(count);
  }
  const requests = answered + r.errors;
  return {
    requests,
    ok2xx,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
    durationS: r.duration,
    okPerS: Math.round(ok2xx / r.duration),
    perS: Math.round(answered / r.duration),
    availability: requests ? Math.round((10000 * ok2xx) / requests) / 100 : 0,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    tokensWrapped: wrapped,
  };
}
