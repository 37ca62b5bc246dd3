/**
 * The `dispatch` CLI against a real stack (two gateways, one dispatcher): the load runner's report,
 * `dispatch ride` against simulated drivers, `dispatch drivers` stopping cleanly on SIGTERM,
 * `dispatch token`, and `--help` of every command. The CLI runs as a child (bin.js) where its exit
 * status or signals matter, in-process otherwise.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { jwtVerify } from 'jose';
import { RoundRobin } from '../clients/cli/options.js';
import type { LoadReport, Percentiles } from '../clients/cli/report.js';
import { DriverFleet } from '../clients/cli/sim/fleet.js';
import { runLoad } from '../clients/cli/sim/load.js';
import { spawnNode } from '../server/devkit/child.js';
import { DROPOFF, placeAt } from './support/clients.js';
import { SECRET } from './support/env.js';
import { startStack, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout and stderr together, for failure messages. */
  output: string;
}

/** `node clients/cli/bin.js …args` with JWT_SECRET set; `exit` resolves when it ends (or fails after `ms`, killing it). */
function cli(args: string[], ms = 60000): { kill: (s: NodeJS.Signals) => void; exit: Promise<Run> } {
  const p = spawnNode(['clients/cli/bin.js', ...args], { name: `dispatch ${args.join(' ')}`, env: { JWT_SECRET: SECRET } });
  const exit = p.exit(ms).then((e) => ({ ...e, stdout: p.stdout.join('\n'), output: p.output() }));
  return { kill: (s) => p.signal(s), exit };
}

const point = (p: { lat: number; lng: number }) => `${p.lat},${p.lng}`;
const tag = () => randomBytes(3).toString('hex');

function expectPercentiles(p: Percentiles, name: string): void {
  expect(Object.keys(p), name).to.have.members(['p50', 'p90', 'p99', 'max']);
  for (const v of Object.values(p)) expect(v, name).to.be.a('number').and.at.least(0);
  const [p50, p90, p99, max] = [p.p50, p.p90, p.p99, p.max] as number[];
  expect(p50, `${name} p50 ≤ p90`).to.be.at.most(p90 as number);
  expect(p90, `${name} p90 ≤ p99`).to.be.at.most(p99 as number);
  expect(p99, `${name} p99 ≤ max`).to.be.at.most(max as number);
}

describe('dispatch CLI', function () {
  this.timeout(120000);
  let stack: Stack;
  const fleets: DriverFleet[] = [];

  before(async () => {
    stack = await startStack({
      gateways: 2,
      dispatchers: 1,
      // No per-address or per-user limits: every simulated user comes from 127.0.0.1.
      env: { OFFER_TIMEOUT_MS: 3000, OFFER_WAVE_SIZE: 3, CALL_TIMEOUT_MS: 30000, MATCH_RADIUS_M: 5000, CONNECT_RATE_PER_IP: 0, RATE_LIMIT_PER_S: 0, LOCATION_RATE_LIMIT_PER_S: 0 },
    });
  });
  afterEach(async () => {
    await Promise.all(fleets.splice(0).map((f) => f.stop()));
  });
  after(async () => {
    await stack.stop();
  });

  it('runLoad: a short run over two gateways dispatches calls, keeps the invariants and reports well-formed latencies', async () => {
    const report: LoadReport = await runLoad({
      urls: stack.gateways.map((g) => g.url),
      secret: SECRET,
      drivers: 20,
      riders: 10,
      rate: 10,
      durationS: 3,
      near: placeAt(20),
      spreadM: 1500,
      acceptDelayMs: [0, 50],
      tripMs: 300,
      drainMs: 30000,
    });
    expect(Object.keys(report)).to.have.members(['calls', 'latencyMs', 'errors', 'invariants']);
    expect(report.calls.requested).to.be.greaterThan(0);
    expect(report.calls.dispatched).to.be.greaterThan(0);
    expect(report.calls.failed, JSON.stringify(report.errors)).to.equal(0);
    expect(report.calls.dispatched).to.be.at.most(report.calls.requested);
    expect(report.invariants).to.deep.equal({ doubleAssignments: 0, lostCalls: 0 });
    expect(Object.keys(report.latencyMs)).to.have.members(['requestToOffer', 'acceptToRider', 'requestToDispatched']);
    for (const [name, p] of Object.entries(report.latencyMs)) expectPercentiles(p, name);
    for (const n of Object.values(report.errors)) expect(n).to.be.a('number');
    // Everything signed off: no simulated driver is left free in the matching set.
    const free = await stack.redis.zrange(stack.keys.freeDrivers, 0, -1);
    expect(free.filter((id) => id.startsWith('load-'))).to.deep.equal([]);
  });

  it('dispatch ride: completes against simulated drivers and exits 0, printing each status with its driver', async () => {
    const place = placeAt(21);
    const fleet = new DriverFleet({
      count: 3, prefix: `sim${tag()}`, urls: new RoundRobin([stack.gateways[1]!.url]), secret: SECRET, home: place, spreadM: 500,
      acceptRate: 1, acceptDelayMs: [0, 50], tripMs: 300,
    });
    fleets.push(fleet);
    expect((await fleet.start()).online).to.equal(3);
    const run = await cli(['ride', '--url', stack.gateways[0]!.url, '--pickup', point(place), '--dropoff', point(DROPOFF), '--id', `rider${tag()}`, '--timeout-ms', '60000']).exit;
    expect(run.code, run.output).to.equal(0);
    const statuses = run.stdout.split('\n').map((l) => /\s(requested|offered|dispatched|arrived|in_progress|completed)\s/.exec(l)?.[1]).filter(Boolean);
    expect(statuses).to.include.members(['requested', 'dispatched', 'arrived', 'in_progress', 'completed']);
    expect(statuses.at(-1)).to.equal('completed');
    expect(run.stdout).to.match(/dispatched .*driver sim[0-9a-f]+-[123]/);
  });

  it('dispatch ride --cancel-after-ms: with no driver around the call is cancelled and it exits 1', async () => {
    const run = await cli(['ride', '--url', stack.gateways[1]!.url, '--pickup', point(placeAt(22)), '--dropoff', point(DROPOFF), '--id', `rider${tag()}`, '--cancel-after-ms', '200']).exit;
    expect(run.code, run.output).to.equal(1);
    expect(run.stdout).to.match(/cancelled .*reason "cancel-after-ms"/);
  });

  it('dispatch drivers: online near the point; SIGTERM sends driver:offline for each and exits 0', async () => {
    const prefix = `drv${tag()}`;
    const ids = [1, 2, 3].map((i) => `${prefix}-${i}`);
    const run = cli(['drivers', '--url', stack.gateways.map((g) => g.url).join(','), '--count', '3', '--near', point(placeAt(23)), '--prefix', prefix]);
    const isFree = async (id: string) => (await stack.redis.zscore(stack.keys.freeDrivers, id)) !== null;
    await until(async () => (await Promise.all(ids.map(isFree))).every(Boolean), 'the three drivers to be online', 30000);
    run.kill('SIGTERM');
    const done = await run.exit;
    expect(done.code, done.output).to.equal(0);
    for (const id of ids) {
      expect(await stack.redis.hget(stack.keys.driver(id), 'status')).to.equal('offline');
      expect(await isFree(id)).to.equal(false);
    }
  });

  it('dispatch token: prints a token that verifies with the secret and carries sub, role and exp', async () => {
    const run = await cli(['token', '--role', 'driver', '--id', 'drv-7', '--ttl', '10m']).exit;
    expect(run.code, run.output).to.equal(0);
    const { payload, protectedHeader } = await jwtVerify(run.stdout.trim(), new TextEncoder().encode(SECRET));
    expect(protectedHeader.alg).to.equal('HS256');
    expect(payload).to.include({ sub: 'drv-7', role: 'driver' });
    expect(payload.exp).to.be.a('number');
  });

  it('--help works for the program and every command', async () => {
    const commands = ['token', 'drivers', 'ride', 'load', 'demo'];
    const runs = await Promise.all([cli(['--help']).exit, ...commands.map((c) => cli([c, '--help']).exit)]);
    expect(runs[0].code).to.equal(0);
    for (const c of commands) expect(runs[0].stdout).to.include(c);
    commands.forEach((c, i) => {
      const run = runs[i + 1]!;
      expect(run.code, run.output).to.equal(0);
      expect(run.stdout).to.match(new RegExp(`^Usage: dispatch ${c} \\[options\\]`));
    });
    expect(runs[3]!.stdout).to.include('--url').and.include('--secret');
  });
});
