/**
 * protocol/ is a package an app can install: `npm pack` makes a tarball, which installs into an
 * empty folder beside nothing else; a tiny client type-checks against it (and a wrongly typed one
 * does not), and its compiled JavaScript connects to a real gateway with the packaged helper.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { PROTOCOL_VERSION } from '../protocol/index.js';
import { token } from './support/clients.js';
import { tempDir } from './support/env.js';
import { startStack, type Stack } from './support/stack.js';

const run = promisify(execFile);
const PROTOCOL_DIR = fileURLToPath(new URL('../protocol/', import.meta.url));
const pkg = JSON.parse(readFileSync(join(PROTOCOL_DIR, 'package.json'), 'utf8')) as {
  name: string; version: string; dependencies: Record<string, string>; peerDependencies: Record<string, string>;
};
const rootLock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, { version: string }> };
const installed = (name: string) => rootLock.packages[`node_modules/${name}`]!.version;

const CLIENT = `
import { connectClient, DispatchError, type Outcome } from '${pkg.name}/client';
import { CallRequest, PROTOCOL_VERSION, type Call, type Hello } from '${pkg.name}';

const url = process.argv[2] ?? 'http://127.0.0.1:3000';
const rider = await connectClient(url, { token: process.argv[3] ?? '' });
const hello: Hello | undefined = rider.hello ?? (await rider.next('hello'));
const request = CallRequest.parse({ requestId: 'pkg-1', pickup: { lat: 37.55, lng: 126.97 }, dropoff: { lat: 37.5, lng: 127.03 } });
const call: Call = await rider.send('call:request', request);
const again: Outcome<Call[]> = await rider.request('call:active', {});
try {
  await rider.send('call:get', { callId: 'no-such-call' });
} catch (err) {
  if (!(err instanceof DispatchError) || err.code !== 'NOT_FOUND') throw err;
}
process.stdout.write(JSON.stringify({ version: PROTOCOL_VERSION, hello, status: call.status, active: again.ok ? again.data.length : -1 }));
rider.close();
`;

/** The same client with the mistakes the package's types must catch. */
const WRONG = `
import { connectClient } from '${pkg.name}/client';
const c = await connectClient('http://x', { token: 't' });
// @ts-expect-error an event the protocol does not have
await c.send('call:teleport', {});
// @ts-expect-error a payload of the wrong shape
await c.send('offer:accept', { call: 'x' });
// @ts-expect-error the ack data of driver:online is { status: 'available' }, not a Call
const n: number = (await c.send('driver:online', { lat: 1, lng: 2 })).seq;
c.on('offer', (o) => {
  // @ts-expect-error an offer has no driverId
  void o.driverId;
});
void n;
`;

describe('the protocol package', function () {
  this.timeout(240000);
  let dir: string;
  let stack: Stack;

  before(async () => {
    dir = tempDir();
    const packed = join(dir, 'packed');
    mkdirSync(packed);
    await run('npm', ['pack', '--pack-destination', packed], { cwd: PROTOCOL_DIR });
    const [tarball] = readdirSync(packed);
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'tiny-client', private: true, type: 'module' }));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', types: ['node'], skipLibCheck: false },
      include: ['client.ts'],
    }));
    writeFileSync(join(app, 'client.ts'), CLIENT);
    // Everything comes from npm's cache when it can (CI's `npm ci` just filled it).
    await run('npm', [
      'install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts',
      join(packed, tarball!), `socket.io-client@${installed('socket.io-client')}`, `typescript@${installed('typescript')}`, `@types/node@${installed('@types/node')}`,
    ], { cwd: app });
    stack = await startStack({ gateways: 1, dispatchers: 1 });
  });
  after(async () => {
    await stack?.stop();
  });

  it('has a name, the protocol version, exports with types, and imports nothing of the server', () => {
    expect(pkg.version).to.equal(PROTOCOL_VERSION);
    expect(pkg.dependencies).to.have.keys('zod');
    expect(pkg.peerDependencies).to.have.keys('socket.io-client');
    for (const file of readdirSync(PROTOCOL_DIR).filter((f) => f.endsWith('.ts'))) {
      const imports = [...readFileSync(join(PROTOCOL_DIR, file), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
      for (const spec of imports) expect(spec, `${file} imports ${spec}`).to.match(/^(\.\/[a-z-]+\.js|zod|socket\.io-client)$/);
    }
  });

  it('installs from its tarball, and a tiny client type-checks against it', async () => {
    const app = join(dir, 'app');
    const { stdout, stderr } = await run(join(app, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: app }).catch((err: { stdout: string; stderr: string }) => {
      throw new Error(`tsc failed:\n${err.stdout}${err.stderr}`);
    });
    expect(stdout + stderr).to.equal('');
  });

  it('catches the mistakes a client can make: unknown events, wrong payloads, wrong ack data, unknown push fields', async () => {
    const app = join(dir, 'app');
    writeFileSync(join(app, 'wrong.ts'), WRONG);
    // Every @ts-expect-error must be used: an unused one (a mistake the types let through) fails.
    const res = await run(join(app, 'node_modules/.bin/tsc'), ['--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--types', 'node', 'wrong.ts'], { cwd: app })
      .then(() => ({ ok: true, out: '' }), (err: { stdout: string }) => ({ ok: false, out: err.stdout }));
    expect(res.out).to.equal('');
    expect(res.ok).to.equal(true);
  });

  it('its compiled client rides against a real gateway: hello, a typed send, a coded error', async () => {
    const app = join(dir, 'app');
    const { stdout } = await run(process.execPath, [join(app, 'out/client.js'), stack.gateways[0]!.url, await token('pkg-rider', 'passenger')], { cwd: app });
    expect(JSON.parse(stdout)).to.deep.equal({
      version: PROTOCOL_VERSION, hello: { protocol: PROTOCOL_VERSION, userId: 'pkg-rider', role: 'passenger' }, status: 'requested', active: 1,
    });
  });
});
