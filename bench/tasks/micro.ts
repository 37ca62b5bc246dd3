/**
 * Micro-measurements of three product code paths the CPU profiles pointed at, each beside another
 * way to do the same work (in a load worker, on this machine, one at a time):
 *  - the SQLite ledger writer (server/ledger/sqlite.ts, its statements prepared once per database) against
 *    the same three statements prepared by hand;
 *  - token verification (server/gateway/auth.ts: node:crypto's synchronous HMAC, jose decoding the
 *    parts) against jose's own jwtVerify through WebCrypto, the product's way before;
 *  - a failing call through the circuit breaker (server/gateway/breaker.ts) with a full window,
 *    against plain opossum with rolling percentiles on (its default: the stats then sort the window).
 */
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import CircuitBreaker from 'opossum';
import { jwtVerify } from 'jose';
import type { Call } from '../../protocol/index.js';
import { Claims } from '../../protocol/index.js';
import { createVerifier } from '../../server/gateway/auth.js';
import { createBreaker } from '../../server/gateway/breaker.js';
import { SqliteLedger } from '../../server/ledger/sqlite.js';
import type { LedgerEntry } from '../../server/ledger/store.js';
import { createLogger } from '../../server/log.js';
import { Metrics } from '../../server/metrics.js';
import { hs256 } from './rest.js';

export interface MicroArgs {
  ledgerEntries: number;
  tokens: number;
  breakerFires: number;
}

export interface MicroResult {
  /** µs per ledger entry, batches of 500 as the consumer writes them. */
  ledger: { product: number; prepared: number; entries: number };
  /** µs per token. */
  jwt: { product: number; jose: number; tokens: number };
  /** ms per failing call with `fires` calls in the rolling window: the product's guard, and opossum's defaults. */
  breaker: { product: number; percentiles: number; fires: number };
}

const STATUSES = ['requested', 'offered', 'dispatched', 'arrived', 'in_progress', 'completed'] as const;

/** `n` ledger entries: rides `${tag}0`, `${tag}1`, … each through the six statuses of a trip (the consumer's shape). */
export function entries(n: number, tag: string): LedgerEntry[] {
  const out: LedgerEntry[] = [];
  const at = new Date().toISOString();
  for (let i = 0; out.length < n; i++) {
    STATUSES.forEach((status, k) => {
      const call: Call = {
        id: `${tag}${i}`, passengerId: `p${i}`, status, pickup: { lat: 37.5663, lng: 126.9779 }, dropoff: { lat: 37.5563, lng: 126.9879 },
        driverId: k >= 2 ? `d${i}` : null, seq: k + 1, createdAt: at, updatedAt: at,
      };
      out.push({ streamId: `${i}-${k}`, call, gen: 1 });
    });
  }
  return out.slice(0, n);
}

const us = (ms: number, n: number) => Math.round((ms * 1000 * 10) / n) / 10;

async function ledger(n: number): Promise<MicroResult['ledger']> {
  const dir = mkdtempSync(join(tmpdir(), 'dispatch-bench-ledger-'));
  try {
    const db = new SqliteLedger(join(dir, 'ledger.db'));
    const a = entries(n, 'a');
    let t = performance.now();
    for (let i = 0; i < n; i += 500) await db.write(a.slice(i, i + 500));
    const product = us(performance.now() - t, n);

    // The writer's three statements, written out and prepared once.
    const s = db.sqlite;
    const selA = s.prepare('SELECT driver_id FROM call_assignments WHERE call_id = ? AND gen = ?');
    const insA = s.prepare('INSERT INTO call_assignments (call_id, gen, driver_id, seq, at) VALUES (?, ?, ?, ?, ?)');
    const insE = s.prepare('INSERT INTO call_events (call_id, seq, status, driver_id, at, stream_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING');
    const upC = s.prepare(`INSERT INTO calls (id, passenger_id, status, driver_id, pickup_lat, pickup_lng, dropoff_lat, dropoff_lng, json, seq, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET status = excluded.status, driver_id = excluded.driver_id, json = excluded.json, seq = excluded.seq, updated_at = excluded.updated_at
      WHERE excluded.seq > calls.seq`);
    const write = s.transaction((batch: LedgerEntry[]) => {
      for (const { streamId, call, gen } of batch) {
        if (call.status === 'dispatched' && call.driverId && !selA.get(call.id, gen)) insA.run(call.id, gen, call.driverId, call.seq, call.updatedAt);
        insE.run(call.id, call.seq, call.status, call.driverId, call.updatedAt, streamId);
        upC.run(call.id, call.passengerId, call.status, call.driverId, call.pickup.lat, call.pickup.lng, call.dropoff.lat, call.dropoff.lng,
          JSON.stringify(call), call.seq, call.createdAt, call.updatedAt);
      }
    });
    const b = entries(n, 'b');
    t = performance.now();
    for (let i = 0; i < n; i += 500) write(b.slice(i, i + 500));
    const prepared = us(performance.now() - t, n);
    s.close();
    return { product, prepared, entries: n };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function jwt(n: number): Promise<MicroResult['jwt']> {
  const secret = 'bench-secret-0123456789abcdef';
  const verify = createVerifier(secret);
  // jose's own verification, with its key imported once (its fastest way).
  const key = await webcrypto.subtle.importKey('raw', Buffer.from(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const viaJose = async (tok: string) => Claims.parse((await jwtVerify(tok, key, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] })).payload);
  // Both ways warmed up first (JIT, key setup) on tokens of their own.
  for (const tok of Array.from({ length: Math.min(500, n) }, (_, i) => hs256(secret, `w${i}`, 'passenger'))) {
    await verify(tok);
    await viaJose(tok);
  }
  // Fresh tokens for each way: the product remembers the tokens it verified.
  const mint = (tag: string) => Array.from({ length: n }, (_, i) => hs256(secret, `${tag}${i}`, 'passenger'));
  const mine = mint('p');
  const theirs = mint('j');
  let t = performance.now();
  for (const tok of mine) await verify(tok);
  const product = us(performance.now() - t, n);
  t = performance.now();
  for (const tok of theirs) await viaJose(tok);
  return { product, jose: us(performance.now() - t, n), tokens: n };
}

async function breaker(fires: number): Promise<MicroResult['breaker']> {
  const failing = () => Promise.reject(new Error('redis is slow'));
  const time = async (call: (work: () => Promise<unknown>) => Promise<unknown>) => {
    // A full window of successes, then failures (far below the error threshold: it stays closed).
    for (let i = 0; i < fires; i++) await call(() => Promise.resolve(i));
    const t = performance.now();
    for (let i = 0; i < 50; i++) await call(failing).catch(() => undefined);
    return Math.round(((performance.now() - t) / 50) * 1000) / 1000;
  };
  const g = createBreaker(1000, new Metrics(), createLogger('silent', 'bench'));
  const product = await time(g.breaker);
  g.shutdown();
  const b = new CircuitBreaker((work: () => Promise<unknown>) => work(), { timeout: 1000, errorThresholdPercentage: 50, volumeThreshold: 5 });
  const percentiles = await time((work) => b.fire(work));
  b.shutdown();
  return { product, percentiles, fires };
}

export async function micro(a: MicroArgs): Promise<MicroResult> {
  return { ledger: await ledger(a.ledgerEntries), jwt: await jwt(a.tokens), breaker: await breaker(a.breakerFires) };
}
