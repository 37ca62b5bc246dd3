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
  ports?: (string | number | { published?: string | number })[];
  volumes?: (string | { source?: string })[];
}

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const text = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(' ') : (v ?? ''));
/** Environment as name → value, whichever of the two compose forms is used. */
const env = (s: Service): Record<string, string> =>
  Array.isArray(s.environment)
    ? Object.fromEntries(s.environment.map((e) => [e.split('=')[0] ?? '', e.split('=').slice(1).join('=')]))
    : (s.environment ?? {});

describe('deployment files', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
  const services = compose.services;
  const roles: Record<string, string> = { 'gateway-1': 'gateway', 'gateway-2': 'gateway', dispatcher: 'dispatcher' };
  const appServices = Object.keys(roles);

  it('defines redis, two gateways, a dispatcher and a load balancer', () => {
    expect(services).to.include.keys('redis', 'gateway-1', 'gateway-2', 'dispatcher', 'lb');
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

  it('publishes the load balancer with a sticky, websocket-aware nginx.conf', () => {
    const lb = services.lb!;
    expect(lb.ports ?? []).to.have.length.of.at.least(1);
    expect(text((lb.volumes ?? []).map((v) => (typeof v === 'string' ? v : (v.source ?? ''))))).to.contain('deploy/nginx.conf');
    expect(existsSync(new URL('deploy/nginx.conf', root))).to.equal(true);
    const conf = read('deploy/nginx.conf');
    for (const needle of ['proxy_set_header Upgrade', 'gateway-1:3000', 'gateway-2:3000', 'ip_hash']) expect(conf).to.contain(needle);
  });

  it('builds in stages and runs as a non-root user with a HEALTHCHECK', () => {
    const lines = read('Dockerfile').split('\n').map((l) => l.trim());
    expect(lines.filter((l) => /^FROM\s/i.test(l))).to.have.length.of.at.least(2);
    const user = lines.filter((l) => /^USER\s/i.test(l)).pop()?.split(/\s+/)[1];
    expect(user, 'last USER').to.be.a('string').and.not.match(/^(root|0)(:|$)/);
    expect(lines.some((l) => /^HEALTHCHECK\s/i.test(l))).to.equal(true);
  });
});
