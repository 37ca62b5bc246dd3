/**
 * The bench harness (bench/): its pieces on their own, then a whole run in its tiny mode against
 * its own private Redis and stack, whose report is checked for its invariants and shape. No timing
 * is asserted: the figures depend on the machine; only what must hold at any speed is checked.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { LoadReport } from '../clients/cli/report.js';
import { runBench, type BenchResult } from '../bench/lib/bench.js';
import { parseArgs } from '../bench/lib/cli.js';
import { spread } from '../bench/lib/ledger.js';
import { drive } from '../bench/lib/pace.js';
import { makePlan } from '../bench/lib/plan.js';
import { createdDatabases, databaseUrl, redactUrl } from '../bench/lib/postgres.js';
import { startedPids } from '../bench/lib/procs.js';
import { packageOf, summariseFile } from '../bench/lib/profile.js';
import { BEGIN, END, markdown, mergeMarkdown, rows, textTable } from '../bench/lib/report.js';
import { mergeOpsFeed, OPS_BEGIN, OPS_END, opsFeedMarkdown } from '../bench/lib/report-ops-feed.js';
import { judge } from '../bench/lib/scenarios.js';
import type { LoadResult } from '../bench/tasks/load.js';
import { hs256 } from '../bench/tasks/rest.js';
import { alive } from '../server/devkit/child.js';

function loadResult(over: Partial<LoadReport['calls']> = {}, inv: Partial<LoadReport['invariants']> = {}, achievedRate = 100, p99 = 150): LoadResult {
  const p = { p50: 10, p90: 50, p99, max: p99 };
  return {
    report: {
      calls: { requested: 200, dispatched: 200, completed: 200, unfulfilled: 0, failed: 0, ...over },
      latencyMs: { requestToOffer: p, acceptToRider: p, requestToDispatched: p },
      errors: { ALREADY_DISPATCHED: 12 },
      invariants: { doubleAssignments: 0, lostCalls: 0, ...inv },
    },
    connectS: 1, achievedRate, violations: [], outstanding: 0,
  };
}

describe('bench harness', () => {
  describe('pieces', () => {
    it('parses the command line', () => {
      expect(parseArgs([]).mode).to.equal('full');
      const o = parseArgs(['--quick', '--only', 'throughput,rest', '--no-write', '--no-profile']);
      expect(o).to.include({ mode: 'quick', out: null, profile: false });
      expect(o.only).to.deep.equal(['throughput', 'rest']);
      expect(() => parseArgs(['--only', 'nope'])).to.throw(/unknown scenario/);
      expect(() => parseArgs(['--bogus'])).to.throw(/unknown option/);
      expect(parseArgs(['--only', 'matching', '--matching', 'hotspot,burst']).matching).to.deep.equal(['hotspot', 'burst']);
      expect(() => parseArgs(['--matching', 'nope'])).to.throw(/unknown scenario/);
      expect(parseArgs(['--only', 'ledger', '--no-write']).only).to.deep.equal(['ledger']);
      const ops = parseArgs(['--only', 'ops-feed', '--drivers', '2000', '--seconds', '7.5', '--rounds', '1', '--admins', '2']);
      expect(ops.only).to.deep.equal(['ops-feed']);
      expect(ops.opsFeed).to.deep.equal({ drivers: 2000, phaseS: 7.5, rounds: 1, admins: 2 });
      expect(() => parseArgs(['--drivers', '1.5'])).to.throw(/whole/);
      expect(() => parseArgs(['--seconds', '0'])).to.throw(/positive/);
    });

    it('keeps every mode bounded, quick smaller than full', () => {
      const full = makePlan('full');
      const quick = makePlan('quick');
      expect(quick.throughput.steps).to.deep.equal([100, 200, 400]);
      expect(quick.connections.sockets).to.equal(2000);
      expect(quick.contention.groups * quick.contention.callsPerGroup).to.equal(200);
      expect(full.connections.sockets).to.equal(20_000);
      expect(full.contention.groups * full.contention.callsPerGroup).to.equal(1000);
      expect(full.contention.driversPerCall).to.equal(100);
      for (const plan of [full, quick, makePlan('tiny')]) {
        expect(plan.throughput.steps.length).to.be.within(1, 10);
        expect(plan.throughput.durationS * plan.throughput.steps.length).to.be.below(120);
        expect(plan.connections.durationS).to.be.below(60);
        expect(plan.ledger.durationS).to.be.below(60);
        expect(plan.ledger.entries).to.be.within(1, 100_000);
        expect(plan.ledger.emptyWaitS).to.be.below(60);
      }
      expect(full.ledger).to.include({ entries: 60_000, batch: 500, rate: 400, sampleMs: 250 });
    });

    it('summarises the ledger lag samples and names its databases', () => {
      expect(spread([])).to.equal(null);
      expect(spread([3, 1, 2, 4])).to.deep.equal({ p50: 2, p99: 4, max: 4 });
      const many = Array.from({ length: 200 }, (_, i) => i + 1);
      expect(spread(many)).to.deep.equal({ p50: 100, p99: 198, max: 200 });
      expect(databaseUrl('postgres://postgres@127.0.0.1:5432/test', 'bench_ab_w')).to.equal('postgres://postgres@127.0.0.1:5432/bench_ab_w');
      expect(redactUrl('postgres://u:secret@h:5432/db')).to.not.contain('secret');
    });

    it('judges a step sustained only when every invariant holds and the rate was reached', () => {
      expect(judge(100, loadResult())).to.deep.equal([]);
      expect(judge(100, loadResult({}, { doubleAssignments: 1 })).join()).to.match(/double/);
      expect(judge(100, loadResult({ dispatched: 150 }, { lostCalls: 50 })).join()).to.match(/drain ran out/);
      expect(judge(100, loadResult({ failed: 3, dispatched: 197 })).join()).to.match(/failed/);
      expect(judge(100, loadResult({}, {}, 80)).join()).to.match(/only 80 calls\/s/);
      expect(judge(100, loadResult({}, {}, 100, 2500)).join()).to.match(/p99 request → dispatched/);
      const r = loadResult();
      r.report.errors = { ACK_TIMEOUT: 2 };
      expect(judge(100, r).join()).to.match(/ACK_TIMEOUT=2/);
    });

    it('drives operations at a rate, flat out and in bursts, counting failures', async () => {
      let k = 0;
      const op = async () => {
        if (++k % 10 === 0) throw new Error('every tenth fails');
        await new Promise((r) => setTimeout(r, 1));
        return 1;
      };
      const rate = await drive({ kind: 'rate', rate: 200, durationS: 0.2 }, op);
      expect(rate.ok + rate.failed).to.equal(40);
      expect(rate.failed).to.equal(4);
      const sat = await drive({ kind: 'saturate', concurrency: 4, durationS: 0.1 }, op);
      expect(sat.ok).to.be.above(0);
      const burst = await drive({ kind: 'burst', groups: 2, size: 5, rounds: 3 }, op);
      expect(burst.ok + burst.failed).to.equal(30);
      expect(burst.latencyMs.p99).to.be.a('number');
    });

    it('signs tokens the product accepts', async () => {
      const { createVerifier } = await import('../server/gateway/auth.js');
      const user = await createVerifier('bench-secret-0123456789abcdef')(hs256('bench-secret-0123456789abcdef', 'p1', 'passenger'));
      expect(user).to.include({ id: 'p1', role: 'passenger' });
    });

    it('summarises a real V8 CPU profile by frame and by package', () => {
      const dir = mkdtempSync(join(tmpdir(), 'bench-test-prof-'));
      execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '-e', 'let x = 0; const t = Date.now(); while (Date.now() - t < 300) x += Math.sqrt(x + 1);']);
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      expect(file).to.be.a('string');
      const s = summariseFile(join(dir, file as string), 'node', process.cwd());
      expect(s.busyS).to.be.above(0);
      expect(s.topFrames.length).to.be.above(0);
      const total = s.byPackage.reduce((a, p) => a + p.pct, 0);
      expect(total).to.be.within(0, 100.5);
      expect(packageOf({ functionName: 'f', url: 'file:///x/node_modules/@socket.io/redis-adapter/dist/index.js', lineNumber: 1 }, '/x')).to.equal('@socket.io/redis-adapter');
      expect(packageOf({ functionName: 'f', url: 'file:///x/server/gateway/socket.ts', lineNumber: 1 }, '/x')).to.equal('server/gateway/');
      expect(packageOf({ functionName: '(garbage collector)', url: '', lineNumber: -1 }, '/x')).to.equal('(garbage collector)');
    });

    it('replaces only the generated part of BENCHMARKS.md', () => {
      const hand = '\n## Bottlenecks and what would move them\n\nwritten by hand\n';
      const first = mergeMarkdown(null, `${BEGIN}\nold\n${END}`);
      expect(first).to.contain('Bottlenecks');
      const merged = mergeMarkdown(`${BEGIN}\nold figures\n${END}\n${hand}`, `${BEGIN}\nnew figures\n${END}`);
      expect(merged).to.contain('new figures').and.to.contain('written by hand').and.not.to.contain('old figures');
    });

    it('writes the ops-feed section alone, after the generated part, and replaces only it', () => {
      const hand = '\n## Bottlenecks\n\nwritten by hand\n';
      const file = `${BEGIN}\ngenerated\n${END}\n${hand}`;
      const once = mergeOpsFeed(file, `${OPS_BEGIN}\nfeed one\n${OPS_END}`);
      expect(once.indexOf('feed one')).to.be.above(once.indexOf(END)).and.below(once.indexOf('written by hand'));
      const twice = mergeOpsFeed(once, `${OPS_BEGIN}\nfeed two\n${OPS_END}`);
      expect(twice).to.contain('feed two').and.not.to.contain('feed one');
      expect(twice.replace(/<!-- bench:ops-feed:begin[^]*bench:ops-feed:end -->\n\n/, '')).to.equal(file);
      // The generated part rewritten later keeps the feed's section.
      expect(mergeMarkdown(twice, `${BEGIN}\nnew\n${END}`)).to.contain('feed two').and.to.contain('new');
    });
  });

  describe('a tiny run of the whole bench', function () {
    // 3-4 minutes on the shared 2-core machine while others run tests (the operator feed's run is about half a minute of it).
    this.timeout(300_000);
    let result: BenchResult;
    const logs: string[] = [];

    before(async () => {
      startedPids.length = 0;
      result = await runBench({ mode: 'tiny', profile: false, log: (m) => logs.push(m) });
    });

    it('ran every scenario without a failure', () => {
      expect(result.meta.errors, logs.join('\n')).to.deep.equal([]);
      expect(result.meta.machine.cores).to.be.above(0);
      expect(result.meta.machine.redis).to.match(/^\d+\.\d+/);
      expect(result.meta.machine.node).to.equal(process.version);
    });

    it('measured the raw stack', () => {
      const c = result.capacity;
      expect(c).to.not.equal(undefined);
      for (const x of [c?.ack, c?.room, c?.evalsha]) {
        expect(x?.ok).to.be.above(0);
        expect(x?.failed).to.equal(0);
      }
      expect(c?.bullmq.consume.processed).to.equal(c?.bullmq.produce.ok);
      const l = result.latency;
      expect(l?.raw.ack.ok).to.equal(Math.ceil(result.plan.latency.rate * result.plan.latency.rawDurationS));
      expect(l?.bounds.requestToOffer).to.be.a('number');
      expect(l?.bounds.acceptToRider).to.be.a('number');
    });

    it('steps the rate with no call ever assigned twice', () => {
      const t = result.throughput;
      expect(t?.steps.length).to.be.above(0);
      for (const s of t?.steps ?? []) {
        expect(s.load.report.invariants.doubleAssignments).to.equal(0);
        expect(s.load.report.calls.requested).to.be.above(0);
        expect(s.load.report.calls.dispatched).to.be.above(0);
        expect(s.sustained).to.equal(s.why.length === 0);
      }
      expect([0, ...(t?.steps.map((s) => s.rate) ?? [])]).to.include(t?.maxSustained);
    });

    it('gives every contended call exactly one winner', () => {
      const c = result.contention;
      expect(c?.product.calls).to.equal(c?.calls);
      expect(c?.product.severalWinners).to.equal(0);
      expect(c?.product.riderMismatch).to.equal(0);
      expect(c?.product.exactlyOne).to.equal(c?.calls);
      expect(c?.product.offersPerCall.min).to.equal(c?.driversPerCall);
      expect(Object.keys(c?.product.loserCodes ?? {})).to.deep.equal(['ALREADY_DISPATCHED']);
    });

    it('held every socket and measured the heap per socket', () => {
      const c = result.connections;
      expect(c?.product.connected).to.equal(result.plan.connections.sockets);
      expect(c?.product.gatewaySockets).to.equal(result.plan.connections.sockets);
      expect(c?.product.heapPerSocketKB).to.be.a('number');
      expect(c?.raw?.heapPerSocketKB).to.be.a('number');
      for (const f of c?.product.fleets ?? []) expect(f.doubleTrips).to.equal(0);
    });

    it('posted real calls over REST', () => {
      const r = result.rest;
      expect(r?.product.requests).to.be.above(0);
      expect(r?.product.availability).to.be.within(0, 100);
      expect(Object.keys(r?.product.statusCodes ?? {})).to.include('201');
      expect(r?.product.tokensWrapped).to.equal(false);
      expect(r?.raw.ok2xx).to.be.above(0);
    });

    it('measured the hot paths beside their cheaper twins', () => {
      const m = result.micro;
      expect(m?.ledger.product).to.be.above(0);
      expect(m?.ledger.prepared).to.be.above(0);
      expect(m?.jwt.product).to.be.above(0);
      expect(m?.jwt.jose).to.be.above(0);
      expect(m?.breaker.product).to.be.at.least(0);
      expect(m?.breaker.percentiles).to.be.at.least(0);
    });

    it('wrote the ledger on SQLite, and on PostgreSQL where it answers, and measured its lag under load', () => {
      const l = result.ledger;
      expect(l).to.not.equal(undefined);
      const backends = l?.postgres.available ? ['sqlite', 'postgres'] : ['sqlite'];
      if (!l?.postgres.available) expect(l?.postgres.reason).to.be.a('string');
      expect(l?.skipped).to.deep.equal([]);
      expect(l?.writer.map((w) => w.backend)).to.deep.equal(l?.postgres.available ? ['sqlite', 'postgres'] : ['sqlite']);
      for (const w of l?.writer ?? []) {
        expect(w.entries).to.equal(result.plan.ledger.entries);
        expect(w.perS).to.be.above(0);
        expect(w.conflicts).to.equal(0);
        expect(w.totalUsPerEntry).to.be.at.least(w.nodeUsPerEntry);
        if (w.backend === 'sqlite') expect(w.serverUsPerEntry).to.equal(null);
        else expect(w.backends).to.be.at.least(1);
      }
      expect(l?.stack.map((s) => s.backend)).to.deep.equal(backends);
      for (const s of l?.stack ?? []) {
        expect(s.step.load.report.invariants.doubleAssignments).to.equal(0);
        expect(s.written, s.backend).to.be.above(0);
        expect(s.samples).to.be.above(0);
        expect(s.lagS?.max).to.be.at.least(0);
        expect(s.lagEntries?.max).to.be.at.least(0);
        expect(s.emptyAfterS, `${s.backend}: the stream emptied after the calls`).to.be.a('number');
        expect(s.entriesPerCall).to.be.above(0);
        expect(s.server === null).to.equal(s.backend === 'sqlite');
      }
      expect(createdDatabases(), 'every PostgreSQL database of the run dropped').to.deep.equal([]);
    });

    it('ran the matching scenarios for each strategy, every call dispatched', () => {
      const m = result.matching;
      expect(m?.runs.map((x) => `${x.scenario}/${x.variant}`)).to.deep.equal(['hotspot/greedy', 'hotspot/batched', 'burst/greedy', 'burst/batched', 'burst/batched cap 3']);
      for (const x of m?.runs ?? []) {
        expect(x.riders.requested, `${x.scenario}/${x.variant}`).to.be.above(0);
        expect(x.riders.dispatched, `${x.scenario}/${x.variant}`).to.equal(x.riders.requested);
        expect(x.drivers.won).to.be.at.least(x.riders.dispatched);
        expect(x.drivers.doubleTrips).to.equal(0);
        expect(x.cpu?.byRole).to.have.property('dispatcher-1');
      }
      // One replay per batched burst: figures, or why there are none (a server without rounds).
      expect(m?.replays.map((x) => x.variant)).to.deep.equal(['batched', 'batched cap 3']);
      for (const x of m?.replays ?? []) expect(x.none !== undefined || (x.optimal?.matched ?? -1) >= 0).to.equal(true);
    });

    it('measured the operator feed closed and open, the admins receiving deltas', () => {
      const o = result.opsFeed;
      expect(o?.online).to.equal(result.plan.opsFeed.drivers);
      // Tiny runs never fall back to fewer drivers (whether the shared machine sustained the step is not asserted).
      expect(o?.tried.map((t) => t.drivers)).to.deep.equal([result.plan.opsFeed.drivers]);
      expect(o?.segments.map((s) => s.phase)).to.deep.equal(['A', 'B']);
      for (const s of o?.segments ?? []) {
        expect(s.step.load.report.invariants.doubleAssignments).to.equal(0);
        expect(s.step.load.report.calls.dispatched).to.be.above(0);
        expect(s.step.cpu?.byRole).to.have.property('gateway-1');
        expect(s.admins === null).to.equal(s.phase === 'A');
      }
      const admins = o?.segments.find((s) => s.phase === 'B')?.admins ?? [];
      expect(admins.length).to.equal(result.plan.opsFeed.admins);
      for (const a of admins) {
        expect(a.deltas, a.url).to.be.above(0);
        expect(a.bytes).to.be.above(0);
        expect(a.drivers).to.be.above(0);
        expect(a.snapshot.drivers).to.be.at.least(result.plan.opsFeed.drivers);
      }
      expect(o?.b.feed?.deltasPerS).to.be.above(0);
      expect(o?.a.feed).to.equal(null);
      const md = opsFeedMarkdown(result);
      expect(md.startsWith(OPS_BEGIN)).to.equal(true);
      expect(md).to.contain(OPS_END).and.to.contain(result.meta.machine.cpuModel).and.to.contain(result.meta.code.commit);
    });

    it('prints and writes a table with a verdict for each target', () => {
      const table = textTable(result);
      for (const s of ['1 throughput', '2 latency', '3 contention', '4 connections', '5 REST', 'ledger', '11 matching', '13 ops feed']) expect(table).to.contain(s);
      const md = markdown(result);
      expect(md.startsWith(BEGIN)).to.equal(true);
      expect(md).to.contain(END).and.to.contain(result.meta.machine.redis).and.to.contain(result.meta.command);
      expect(rows(result).filter((r) => r.verdict !== '—').length).to.be.above(5);
    });

    it('left no process running', async () => {
      expect(startedPids.length).to.be.above(5);
      const deadline = Date.now() + 5000;
      while (startedPids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(startedPids.filter(alive)).to.deep.equal([]);
    });
  });
});
