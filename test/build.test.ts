/**
 * The compiled build (`npm run build` → dist/) runs as the production image runs it: from a
 * directory holding only dist/, package.json, clients/cli/bin.js and the production dependencies
 * (no devDependencies, so no tsx and no TypeScript). There the compiled server answers /readyz,
 * a real ride goes through its Lua scripts and into its SQLite ledger, the compiled CLI runs
 * (directly and through bin.js, which falls back to it without tsx), and SIGTERM stops it with 0.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { jwtVerify } from 'jose';
import { spawnNode } from '../server/devkit/child.js';
import { cleanPrefix } from '../server/devkit/prefix.js';
import { spawnServer, type ServerProcess } from '../server/devkit/server.js';
import { makeKeys } from '../server/redis/keys.js';
import { placeAt } from './support/clients.js';
import { freePort, SECRET, tempDir, testEnv } from './support/env.js';
import { normalRide } from './support/hostile.js';
import { ledgerMismatch } from './support/ledger.js';
import { until } from './support/wait.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = join(ROOT, 'dist');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

/** Every file under `dir`, as /-separated paths relative to `base`. */
function files(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : files(path, base);
    return [relative(base, path).split(sep).join('/')];
  });
}

/** The package a bare import specifier names ('@a/b/c' → '@a/b', 'x/y' → 'x'), or null for node: and relative ones. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

/**
 * A copy of what the image's runtime stage holds: dist/, package.json, clients/cli/bin.js, and a
 * node_modules with only the production dependencies (links to the installed ones, as listed by
 * `npm ls --omit=dev`). Code here that imported a devDependency would fail to load.
 */
function productionDir(): string {
  const dir = tempDir();
  cpSync(DIST, join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  mkdirSync(join(dir, 'clients', 'cli'), { recursive: true });
  cpSync(join(ROOT, 'clients', 'cli', 'bin.js'), join(dir, 'clients', 'cli', 'bin.js'));
  // Not in the image; here so that only tsx being absent makes bin.js choose the compiled CLI.
  cpSync(join(ROOT, 'clients', 'cli', 'run.ts'), join(dir, 'clients', 'cli', 'run.ts'));
  const ls = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' });
  const top = join(ROOT, 'node_modules') + sep;
  const packages = ls.stdout.split('\n').filter((p) => p.startsWith(top)).map((p) => p.slice(top.length))
    .filter((name) => !name.includes(`${sep}node_modules${sep}`) && name.split(sep).length === (name.startsWith('@') ? 2 : 1));
  expect(packages, `npm ls --omit=dev: ${ls.stderr}`).to.include.members(Object.keys(pkg.dependencies));
  for (const name of new Set(packages)) {
    const link = join(dir, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(top, name), link, 'dir');
  }
  return dir;
}

describe('compiled build (npm run build)', function () {
  this.timeout(120000);
  let prod: string;

  before(function () {
    this.timeout(300000);
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 280000 });
    expect(build.status, `npm run build failed:\n${build.stdout}\n${build.stderr}`).to.equal(0);
    prod = productionDir();
  });

  it('puts every file the code reads at run time next to the compiled code', () => {
    const built = new Set(files(DIST));
    for (const main of ['server/main.js', 'clients/cli/run.js', 'protocol/index.js']) expect(built, main).to.include(main);
    // The Lua scripts, the migrations and their meta JSON, static files, the Redis watchdog, …
    for (const tree of ['server', 'clients']) {
      for (const f of files(join(ROOT, tree)).filter((p) => !p.endsWith('.ts'))) expect(built, `${tree}/${f}`).to.include(`${tree}/${f}`);
    }
    expect([...built].filter((p) => p.startsWith('server/redis/scripts/') && p.endsWith('.lua'))).to.have.length.above(5);
    expect([...built].some((p) => p.startsWith('server/ledger/migrations/') && p.endsWith('.sql'))).to.equal(true);
    for (const doc of ['docs/openapi.json', 'docs/asyncapi.json']) {
      if (existsSync(join(ROOT, doc))) expect(built, doc).to.include(doc);
    }
    expect([...built].filter((p) => /^(test|bench)\//.test(p) || p.endsWith('.test.js')), 'no tests or benchmarks').to.deep.equal([]);
  });

  it('loads only production dependencies and Node built-ins from the server and the CLI (never tsx or another devDependency)', () => {
    // Every compiled module the two entry points reach through relative imports, static or dynamic.
    const used = new Set<string>();
    const seen = new Set<string>();
    const queue = ['server/main.js', 'clients/cli/run.js'];
    while (queue.length) {
      const f = queue.pop() as string;
      if (seen.has(f)) continue;
      seen.add(f);
      const code = readFileSync(join(DIST, f), 'utf8');
      for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) {
        const spec = m[1] as string;
        if (spec.startsWith('.')) queue.push(relative(DIST, join(DIST, dirname(f), spec)).split(sep).join('/'));
        const name = packageOf(spec);
        if (name) used.add(name);
      }
    }
    expect(seen).to.include('server/app.js').and.include('clients/cli/commands/demo.js');
    expect(used).to.include('pino').and.include('ioredis');
    for (const name of used) expect(Object.keys(pkg.dependencies), `the compiled code imports ${name}`).to.include(name);
    expect(Object.keys(pkg.dependencies), 'tsx is a devDependency').to.not.include('tsx');
  });

  describe('from the production directory', () => {
    const env = { NODE_OPTIONS: undefined }; // nothing may preload tsx into the children
    let server: ServerProcess | undefined;
    let redis: Redis | undefined;
    let prefix = '';
    after(async () => {
      await server?.kill();
      if (redis) {
        await cleanPrefix(redis, prefix);
        redis.disconnect();
      }
    });

    it('node dist/server/main.js serves a real ride through its scripts and its ledger, and exits 0 on SIGTERM', async () => {
      const vars = testEnv({ LOG_LEVEL: 'info', LOG_FORMAT: 'json' });
      prefix = vars.KEY_PREFIX as string;
      server = spawnServer({ name: 'the compiled server', entry: 'dist/server/main.js', role: 'all', port: await freePort(), cwd: prod, env: { ...env, ...vars } });
      await server.ready({ ms: 30000, tick: 50 });
      const url = server.url;

      // The operator console: the bundle `npm run build` wrote (no esbuild here), byte for byte.
      expect((await fetch(`${url}/ops`)).status).to.equal(200);
      for (const asset of ['console.js', 'console.css']) {
        const res = await fetch(`${url}/ops/assets/${asset}`);
        expect(res.status, asset).to.equal(200);
        expect(await res.text(), asset).to.equal(readFileSync(join(DIST, 'server', 'ops', 'console', 'build', asset), 'utf8'));
      }

      const call = await normalRide(url, url, randomBytes(4).toString('hex'), placeAt(61));
      expect(call.status).to.equal('dispatched');
      redis = new Redis(vars.REDIS_URL as string);
      await until(async () => (await ledgerMismatch(vars.DB_PATH as string, redis!, makeKeys(prefix), [call.id])) === null, 'the ride to be in the ledger', 15000);

      server.signal('SIGTERM');
      expect(await server.exit(), server.output()).to.deep.equal({ code: 0, signal: null });
      expect(server.stdout.some((l) => l.includes('"shutting down"'))).to.equal(true);
    });

    it('the compiled CLI runs, directly and through bin.js (which falls back to it without tsx)', async () => {
      const help = spawnNode(['dist/clients/cli/run.js', '--help'], { cwd: prod, env });
      expect(await help.exit(), help.output()).to.deep.equal({ code: 0, signal: null });
      expect(help.stdout.join('\n')).to.match(/^Usage: dispatch/).and.include('demo');

      const token = spawnNode(['clients/cli/bin.js', 'token', '--role', 'driver', '--id', 'drv-9'], { cwd: prod, env: { ...env, JWT_SECRET: SECRET } });
      expect(await token.exit(), token.output()).to.deep.equal({ code: 0, signal: null });
      const { payload } = await jwtVerify((token.stdout[0] ?? '').trim(), new TextEncoder().encode(SECRET));
      expect(payload).to.include({ sub: 'drv-9', role: 'driver' });
    });
  });
});
