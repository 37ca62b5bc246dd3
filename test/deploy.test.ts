/** Static checks of the container deployment files (no Docker, no network). */
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../server/config.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string> | string[];
  healthcheck?: { test?: string | string[] };
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: (string | number | { published?: string | number })[];
  volumes?: (string | { source?: string })[];
}

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions per stage (comments dropped, continuation lines joined). */
function dockerStages(text: string): { name: string | undefined; instructions: Instruction[] }[] {
  const joined = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ');
  const stages: { name: string | undefined; instructions: Instruction[] }[] = [];
  for (const line of joined.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const ins = { keyword: m[1]!.toUpperCase(), args: m[2]! };
    if (ins.keyword === 'FROM') stages.push({ name: /\sAS\s+(\S+)/i.exec(ins.args)?.[1], instructions: [] });
    stages.at(-1)?.instructions.push(ins);
  }
  return stages;
}

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const text = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(' ') : (v ?? ''));
/** Environment as name → value, whichever of the two compose forms is used. */
const env = (s: Service): Record<string, string> =>
  Array.isArray(s.environment)
    ? Object.fromEntries(s.environment.map((e) => [e.split('=')[0] ?? '', e.split('=').slice(1).join('=')]))
    : (s.environment ?? {});

/** What compose makes of `${VAR}`, `${VAR:?message}` and `${VAR:-default}` with these variables. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::?[?-]([^}]*))?\}/g, (_, name: string, fallback?: string) => vars[name] ?? fallback ?? '');
}

describe('deployment files', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
  const services = compose.services;
  const roles: Record<string, string> = { 'gateway-1': 'gateway', 'gateway-2': 'gateway', dispatcher: 'dispatcher' };
  const appServices = Object.keys(roles);

  it('defines redis, postgres, two gateways, a dispatcher and a load balancer', () => {
    expect(services).to.include.keys('redis', 'postgres', 'gateway-1', 'gateway-2', 'dispatcher', 'lb');
  });

  it('gives app services only known variables, the right ROLE and a /healthz healthcheck', () => {
    for (const name of appServices) {
      const s = services[name]!;
      expect(s.build, `${name} builds the Dockerfile`).to.not.equal(undefined);
      for (const key of Object.keys(env(s))) expect(CONFIG_VARIABLES, `${name}: ${key}`).to.include(key);
      expect(env(s).ROLE, `${name} ROLE`).to.equal(roles[name]);
      expect(text(s.healthcheck?.test), `${name} healthcheck`).to.contain('/healthz');
    }
  });

  it('runs redis with AOF persistence and no eviction', () => {
    const cmd = text(services.redis!.command);
    expect(cmd).to.match(/--appendonly\s+yes/);
    expect(cmd).to.match(/--maxmemory-policy\s+noeviction/);
  });

  it('runs postgres on a named volume, healthy only once pg_isready answers over TCP, not published', () => {
    const pg = services.postgres!;
    expect(pg.image).to.match(/^postgres:1[5-9]\b/);
    const volumes = (compose as { volumes?: Record<string, unknown> }).volumes ?? {};
    const data = (pg.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source ?? ''}:${(v as { target?: string }).target ?? ''}`)).find((v) => v.endsWith(':/var/lib/postgresql/data'));
    expect(data, 'a volume at /var/lib/postgresql/data').to.be.a('string');
    expect(volumes, 'a named volume, declared at the top level').to.have.property(data!.split(':')[0]!);
    const check = text(pg.healthcheck?.test);
    expect(check).to.contain('pg_isready');
    expect(check, 'over TCP: the init-time server listens on the unix socket only').to.match(/-h\s+(127\.0\.0\.1|localhost)\b/);
    expect(pg.ports ?? [], 'postgres is not published on the host').to.deep.equal([]);
  });

  it('requires POSTGRES_PASSWORD (no default in the file) and hands it to the app in DATABASE_URL', () => {
    const pg = env(services.postgres!);
    expect(pg.POSTGRES_PASSWORD, 'POSTGRES_PASSWORD').to.match(/^\$\{POSTGRES_PASSWORD:\?[^}]*\}$/);
    expect(JSON.stringify(services.postgres), 'no literal password').to.not.match(/POSTGRES_PASSWORD=|\$\{POSTGRES_PASSWORD:-/);
    for (const name of appServices) {
      const raw = env(services[name]!).DATABASE_URL;
      expect(raw, `${name} DATABASE_URL`).to.be.a('string');
      expect(raw, `${name}: the password only by reference`).to.contain('${POSTGRES_PASSWORD');
      const url = new URL(interpolate(raw!, { POSTGRES_PASSWORD: 'compose-test-password' }));
      expect(url.protocol, name).to.equal('postgres:');
      expect(url.hostname, `${name}: the postgres service`).to.equal('postgres');
      expect(url.port || '5432').to.equal('5432');
      expect(decodeURIComponent(url.username)).to.equal(pg.POSTGRES_USER ?? 'postgres');
      expect(decodeURIComponent(url.password)).to.equal('compose-test-password');
      expect(url.pathname.slice(1), `${name}: the database the image creates`).to.equal(pg.POSTGRES_DB ?? pg.POSTGRES_USER ?? 'postgres');
    }
  });

  it('starts app services once redis and postgres are healthy; the ledger needs no app volume', () => {
    for (const name of appServices) {
      const deps = services[name]!.depends_on;
      expect(deps, `${name} depends_on`).to.be.an('object').and.not.an('array');
      for (const dep of ['redis', 'postgres']) expect((deps as Record<string, { condition?: string }>)[dep]?.condition, `${name} waits for ${dep}`).to.equal('service_healthy');
      expect(env(services[name]!), `${name}: DATABASE_URL replaces DB_PATH`).to.not.have.property('DB_PATH');
      expect(services[name]!.volumes ?? [], `${name} volumes`).to.deep.equal([]);
    }
  });

  it('publishes the load balancer with a sticky, websocket-aware nginx.conf', () => {
    const lb = services.lb!;
    expect(lb.ports ?? []).to.have.length.of.at.least(1);
    expect(text((lb.volumes ?? []).map((v) => (typeof v === 'string' ? v : (v.source ?? ''))))).to.contain('deploy/nginx.conf');
    expect(existsSync(new URL('deploy/nginx.conf', root))).to.equal(true);
    const conf = read('deploy/nginx.conf');
    for (const needle of ['proxy_set_header Upgrade', 'gateway-1:3000', 'gateway-2:3000', 'ip_hash']) expect(conf).to.contain(needle);
  });

  it('runs the compiled server in the image, with production dependencies only and no tsx', () => {
    const stages = dockerStages(read('Dockerfile'));
    const runtime = stages.at(-1)!;
    const cmd = runtime.instructions.filter((i) => i.keyword === 'CMD').pop();
    expect(JSON.parse(cmd?.args ?? 'null'), 'CMD (exec form)').to.deep.equal(['node', 'dist/server/main.js']);
    expect(runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT'), 'no ENTRYPOINT').to.deep.equal([]);
    for (const i of runtime.instructions) expect(i.args, `runtime ${i.keyword}`).to.not.match(/\btsx\b/);
    // What the runtime stage copies, and from which stage.
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => ({
      from: /--from=(\S+)/.exec(i.args)?.[1],
      // Sources, relative to /app, without a trailing slash.
      paths: i.args.replace(/--\S+/g, '').trim().split(/\s+/).slice(0, -1).map((p) => p.replace(/^(\/app\/|\.\/)/, '').replace(/(.)\/$/, '$1')),
    }));
    for (const c of copies) for (const p of c.paths) expect(p, 'no sources or TypeScript config at run time').to.not.match(/^(server|protocol|tsconfig[^/]*|\.)(\/|$)|\.ts$/);
    const stageOf = (path: string) => {
      const c = copies.find((x) => x.paths.includes(path));
      expect(c?.from, `the runtime stage copies ${path} from a build stage`).to.be.a('string');
      const stage = stages.find((st) => st.name === c!.from);
      expect(stage, `stage ${c!.from}`).to.not.equal(undefined);
      return stage!.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
    };
    expect(stageOf('dist')).to.match(/npm run build/);
    // node_modules without devDependencies: pruned after the build, or installed with --omit=dev.
    expect(stageOf('node_modules')).to.match(/npm (prune|ci)\b[^\n]*--omit=dev/);
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.dependencies, 'tsx is not a production dependency').to.not.have.property('tsx');
    expect(pkg.devDependencies).to.have.property('tsx');
    expect(pkg.scripts.build).to.contain('tsconfig.build.json');
  });

  it('runs the image as built in compose (no command with tsx)', () => {
    for (const name of appServices) {
      const s = services[name]!;
      expect(JSON.stringify(s), `${name} never mentions tsx`).to.not.match(/\btsx\b/);
      if (s.command !== undefined) expect(text(s.command), `${name} command`).to.match(/^node dist\/server\/main\.js\b/);
    }
  });

  it('builds in stages and runs as a non-root user with a HEALTHCHECK', () => {
    const lines = read('Dockerfile').split('\n').map((l) => l.trim());
    expect(lines.filter((l) => /^FROM\s/i.test(l))).to.have.length.of.at.least(2);
    const user = lines.filter((l) => /^USER\s/i.test(l)).pop()?.split(/\s+/)[1];
    expect(user, 'last USER').to.be.a('string').and.not.match(/^(root|0)(:|$)/);
    expect(lines.some((l) => /^HEALTHCHECK\s/i.test(l))).to.equal(true);
  });
});
