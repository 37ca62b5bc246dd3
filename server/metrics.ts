/**
 * Prometheus metrics of one process (prom-client), served at /metrics. Each app instance has its
 * own registry, so several instances can live in one test process.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds from a request to its dispatch: drivers answer in seconds, waves take tens of them. */
export const DISPATCH_BUCKETS = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300];
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  readonly sockets = new Gauge({ name: 'dispatch_sockets', help: 'Connected sockets by role', labelNames: ['role'] as const, registers: [this.registry] });
  readonly transitions = new Counter({ name: 'dispatch_call_transitions_total', help: 'Calls moved into each status by this process', labelNames: ['status'] as const, registers: [this.registry] });
  readonly offers = new Counter({ name: 'dispatch_offers_total', help: 'Offers sent', registers: [this.registry] });
  readonly accepts = new Counter({ name: 'dispatch_accepts_total', help: 'Accepts by result: won, or the error code of a loss', labelNames: ['result'] as const, registers: [this.registry] });
  readonly requestToOffer = new Histogram({ name: 'dispatch_request_to_offer_seconds', help: 'From a call\'s creation to its first wave of offers', buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly requestToDispatched = new Histogram({ name: 'dispatch_request_to_dispatched_seconds', help: 'From a call\'s creation to an accept dispatching it (again after a re-dispatch)', buckets: DISPATCH_BUCKETS, registers: [this.registry] });
  readonly acceptToNotify = new Histogram({ name: 'dispatch_accept_to_notify_seconds', help: 'From an accept arriving to the rider\'s status push being published', buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly roundSeconds = new Histogram({ name: 'dispatch_match_round_seconds', help: 'One matching round (or greedy match), from its begin to its commit', buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly roundCalls = new Histogram({ name: 'dispatch_match_round_calls', help: 'Calls in one matching round', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], registers: [this.registry] });
  readonly wavesPerDispatch = new Histogram({ name: 'dispatch_waves_per_dispatch', help: 'Offer waves a call needed before it was dispatched', buckets: [1, 2, 3, 4, 5, 8, 13, 20], registers: [this.registry] });
  readonly offersRevoked = new Counter({ name: 'dispatch_offers_revoked_total', help: 'Offers revoked, by reason (taken, cancelled, expired, busy)', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly workerRestarts = new Counter({ name: 'dispatch_worker_restarts_total', help: 'Dispatch workers recreated by the watchdog', registers: [this.registry] });
  readonly stalledJobs = new Counter({ name: 'dispatch_stalled_jobs_total', help: 'Dispatch jobs found stalled (their worker died) and re-run', registers: [this.registry] });
  readonly redisErrors = new Counter({ name: 'dispatch_redis_errors_total', help: 'Redis connection errors', labelNames: ['connection'] as const, registers: [this.registry] });
  readonly circuitOpen = new Gauge({ name: 'dispatch_redis_circuit_open', help: '1 while a Redis circuit breaker is open (its requests answered UNAVAILABLE at once); circuit = requests or locations', labelNames: ['circuit'] as const, registers: [this.registry] });
  readonly ledgerConflicts = new Counter({ name: 'dispatch_ledger_assignment_conflicts_total', help: 'Second assignments of a call refused by the ledger', registers: [this.registry] });
  readonly ledgerWritten = new Counter({ name: 'dispatch_ledger_entries_written_total', help: 'Ledger stream entries committed to the ledger by this process', registers: [this.registry] });
  readonly ledgerWriteErrors = new Counter({ name: 'dispatch_ledger_write_errors_total', help: 'Failed ledger writes (or probes): the entries wait in the stream and are retried', registers: [this.registry] });
  readonly ledgerDeadLetters = new Counter({ name: 'dispatch_ledger_dead_letters_total', help: 'Ledger entries the database refused for their data, moved to the dead-letter stream', registers: [this.registry] });
  readonly callsRetired = new Counter({ name: 'dispatch_calls_retired_total', help: 'Ended calls whose live Redis keys retention removed (CALL_RETENTION_MS)', registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'dispatch_rate_limited_total', help: 'Events and requests refused with RATE_LIMITED', labelNames: ['kind'] as const, registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Report the dispatch queue's job counts by state at every scrape. */
  addQueueDepth(counts: () => Promise<Record<string, number>>): void {
    new Gauge({
      name: 'dispatch_queue_jobs', help: 'Dispatch queue jobs by state', labelNames: ['state'] as const, registers: [this.registry],
      async collect() {
        const byState = await counts().catch(() => ({}));
        for (const [state, n] of Object.entries(byState)) this.set({ state }, n);
      },
    });
  }

  /** Open calls whose timers wait in Redis (server/dispatch/timers.ts), read at every scrape. */
  addCallTimers(count: () => Promise<number>): void {
    this.countAtScrape('dispatch_call_timers', 'Call timers waiting in Redis (a wave\'s end or a call\'s deadline; each becomes a job when due)', count);
  }

  /**
   * The ledger stream at every scrape: the entries not yet written (written ones are deleted), the
   * memory they take in Redis, and the age of the oldest. Alert on these long before maxmemory.
   */
  addLedgerBacklog(read: () => Promise<{ entries: number; bytes: number; oldestSeconds: number }>): void {
    let last: Promise<{ entries: number; bytes: number; oldestSeconds: number } | undefined> | undefined;
    // One read per scrape for the three gauges.
    const once = () => (last ??= read().catch(() => undefined).finally(() => setTimeout(() => (last = undefined), 100).unref()));
    const gauge = (name: string, help: string, pick: (b: { entries: number; bytes: number; oldestSeconds: number }) => number) =>
      new Gauge({
        name, help, registers: [this.registry],
        async collect() {
          const b = await once();
          this.set(b ? pick(b) : -1);
        },
      });
    gauge('dispatch_ledger_lag', 'Ledger stream entries not yet written to the ledger', (b) => b.entries);
    gauge('dispatch_ledger_stream_bytes', 'Redis memory of the ledger stream (MEMORY USAGE), bytes', (b) => b.bytes);
    gauge('dispatch_ledger_oldest_seconds', 'Age of the oldest ledger stream entry not yet written, seconds (0 when none)', (b) => b.oldestSeconds);
  }

  /** A gauge read from Redis at every scrape; -1 when Redis does not answer. */
  private countAtScrape(name: string, help: string, count: () => Promise<number>): void {
    new Gauge({
      name, help, registers: [this.registry],
      async collect() {
        this.set(await count().catch(() => -1));
      },
    });
  }
}
