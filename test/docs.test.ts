/**
 * The API documents: docs/openapi.json and docs/asyncapi.json are what `npm run docs` makes from
 * protocol/ today (stale files fail), both validate, both cover every action and push of the
 * action table, and a gateway serves them and the /docs page with every asset from itself, with a
 * Content-Security-Policy that lets the viewers run. Real Chromium loads the page: both viewers
 * render, no request leaves the host, and the policy blocks nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';
import { validate } from '@readme/openapi-parser';
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import {
  ACTIONS, answerCodes, HTTP_ROUTES, HTTP_STATUS, PROTOCOL_VERSION, PUSHES,
} from '../protocol/index.js';
import { SPEC_FILES, specText, type SpecFile } from '../server/apidocs/specs.js';
import { DOCS_CSP } from '../server/gateway/docs.js';
import { startStack, type Stack } from './support/stack.js';

const committed = (file: SpecFile) => readFileSync(new URL(`../docs/${file}`, import.meta.url), 'utf8');
/** The parts of the two documents the checks read. */
interface ErrorSchema { properties: { error: { properties: { code: { enum: string[] } } } } }
interface OpenApiOperation {
  operationId: string;
  security: unknown;
  responses: Record<string, { content: Record<string, { schema: ErrorSchema }> }>;
  'x-codes': string[];
}
interface OpenApi {
  openapi: string;
  info: { version: string };
  components: { securitySchemes: Record<string, object> };
  paths: Record<string, Record<string, OpenApiOperation | undefined> | undefined>;
}
interface AsyncApi {
  asyncapi: string;
  info: { version: string };
  channels: Record<string, { address: string }>;
  operations: Record<string, { action: string; title: string; reply?: { messages: unknown[] }; 'x-codes'?: string[] }>;
  components: { messages: Record<string, { name: string }>; securitySchemes: Record<string, object> };
}
const openApi = () => JSON.parse(committed('openapi.json')) as OpenApi;
const asyncApi = () => JSON.parse(committed('asyncapi.json')) as AsyncApi;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('API documents', () => {
  describe('the committed files', () => {
    for (const file of Object.keys(SPEC_FILES) as SpecFile[]) {
      it(`docs/${file} is what \`npm run docs\` generates from protocol/ now`, () => {
        expect(committed(file) === specText(file), `docs/${file} is stale: run \`npm run docs\` and commit it`).to.equal(true);
      });
    }

    it('asyncapi.json is a valid AsyncAPI 3.0 document (@asyncapi/parser)', async () => {
      const diagnostics = await new Parser().validate(committed('asyncapi.json'));
      // Severity 0 is an error, 1 a warning; 2 and 3 are information and hints (such as "a newer AsyncAPI exists").
      const problems = diagnostics.filter((d) => Number(d.severity) <= 1).map((d) => `${d.message} at ${d.path.join('.')}`);
      expect(problems).to.deep.equal([]);
      expect(asyncApi()).to.include({ asyncapi: '3.0.0' });
    });

    it('openapi.json is a valid OpenAPI 3.1 document (@readme/openapi-parser)', async () => {
      const result = await validate(openApi() as never);
      expect(result.valid, JSON.stringify(result)).to.equal(true);
      expect(openApi()).to.include({ openapi: '3.1.0' });
    });

    it('both carry the protocol version', () => {
      expect(asyncApi().info.version).to.equal(PROTOCOL_VERSION);
      expect(openApi().info.version).to.equal(PROTOCOL_VERSION);
    });

    it('OpenAPI: every route of the action table, with a response for every status its codes map to, and the bearer scheme', () => {
      const o = openApi();
      expect(o.components.securitySchemes.bearer).to.include({ type: 'http', scheme: 'bearer' });
      for (const a of ACTIONS) {
        if (!a.route) continue;
        const op = o.paths[a.route.path.replace(/:(\w+)/g, '{$1}')]?.[a.route.method];
        if (!op) throw new Error(`no ${a.route.method} ${a.route.path} in openapi.json`);
        expect(op.operationId).to.equal(a.name);
        expect(op.security).to.deep.equal([{ bearer: [] }]);
        const statuses = new Set([String(a.route.status), ...(a.route.also ? [String(a.route.also.status)] : []), ...answerCodes(a, 'rest').map((c) => String(HTTP_STATUS[c]))]);
        expect(Object.keys(op.responses).sort()).to.deep.equal([...statuses].sort());
        expect(op['x-codes']).to.have.members(answerCodes(a, 'rest'));
        for (const code of answerCodes(a, 'rest')) {
          const body = op.responses[String(HTTP_STATUS[code])]?.content['application/json']?.schema;
          expect(body?.properties.error.properties.code.enum, `${a.name} ${code}`).to.include(code);
        }
      }
      for (const r of HTTP_ROUTES) expect(o.paths[r.path]?.get, r.path).to.not.equal(undefined);
    });

    it('AsyncAPI: one channel, a send operation with its ack as reply per client event, a receive operation per push, the JWT scheme', () => {
      const d = asyncApi();
      expect(Object.values(d.channels).map((c) => c.address)).to.deep.equal(['/']);
      const messageNames = Object.values(d.components.messages).map((m) => m.name);
      for (const a of ACTIONS) {
        if (!a.event) continue;
        const op = d.operations[a.name];
        expect(op, a.name).to.include({ action: 'send' });
        expect(op?.reply?.messages).to.have.length(1);
        expect(messageNames).to.include(a.event);
        expect(op?.['x-codes']).to.have.members(answerCodes(a, 'socket'));
      }
      for (const p of PUSHES) {
        const op = Object.values(d.operations).find((o) => o.action === 'receive' && o.title === p.event);
        expect(op, p.event).to.not.equal(undefined);
        expect(messageNames).to.include(p.event);
      }
      expect(d.components.securitySchemes.jwt).to.include({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    });
  });

  describe('served by a gateway', function () {
    this.timeout(120000);
    let stack: Stack;
    let url: string;
    before(async () => {
      stack = await startStack({ gateways: 1, dispatchers: 0 });
      url = stack.gateways[0]!.url;
    });
    after(async () => {
      await stack.stop();
    });

    for (const file of Object.keys(SPEC_FILES) as SpecFile[]) {
      it(`GET /${file} answers the committed file`, async () => {
        const res = await fetch(`${url}/${file}`);
        expect(res.status).to.equal(200);
        expect(res.headers.get('content-type')).to.match(/^application\/json/);
        expect(await res.text()).to.equal(committed(file));
      });
    }

    it('GET /docs and every asset it references load from the server itself, with the docs policy', async () => {
      const res = await fetch(`${url}/docs`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/html/);
      expect(res.headers.get('content-security-policy')).to.equal(DOCS_CSP);
      const html = await res.text();
      const refs = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(refs.length).to.be.greaterThan(4);
      for (const ref of refs) {
        if (ref.startsWith('#') || ref.startsWith('data:')) continue;
        expect(ref, 'a reference to this server, never another host').to.match(/^\/[^/]/);
        const asset = await fetch(url + ref);
        expect(asset.status, ref).to.equal(200);
        const body = await asset.text();
        expect(body.length, ref).to.be.greaterThan(10);
      }
      // The page's own script fetches only the two documents, from this server.
      const script = await (await fetch(`${url}/docs/assets/docs.js`)).text();
      expect([...script.matchAll(/(?:url: |fetch\()'([^']+)'/g)].map((m) => m[1])).to.have.members(['/openapi.json', '/asyncapi.json']);
    });

    it('the docs policy names no other origin; every other route keeps helmet\'s default policy', async () => {
      expect(DOCS_CSP).to.not.match(/https?:|\*/);
      expect(DOCS_CSP).to.contain("default-src 'none'");
      const health = await fetch(`${url}/healthz`);
      expect(health.headers.get('content-security-policy')).to.contain("script-src 'self'").and.not.contain('unsafe-eval');
    });

    it('anything else under /docs, or past the spec files, is 404 with the contract body', async () => {
      for (const path of ['/docs/nope', '/docs/assets/nope.js', '/docs/assets/..%2F..%2Fpackage.json', '/docs/assets/%2e%2e/index.html', '/docs/assets/', '/openapi.json/x', '/asyncapi.json/', '/docs/docs.js']) {
        const res = await fetch(url + path);
        expect(res.status, path).to.equal(404);
        expect(await res.json(), path).to.have.nested.property('error.code', 'NOT_FOUND');
      }
      const post = await fetch(`${url}/docs`, { method: 'POST' });
      expect(post.status).to.equal(404);
    });

    describe('in Chromium', () => {
      let browser: Browser;
      before(async () => {
        if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`);
        browser = await chromium.launch({
          executablePath: CHROMIUM,
          args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        });
      });
      after(async () => {
        await browser?.close();
      });

      it('renders both documents with no request leaving the host and nothing blocked by the policy', async () => {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        const requests: string[] = [];
        const problems: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(`console: ${m.text()}`);
        });
        await page.goto(`${url}/docs`);
        await page.locator('#asyncapi').getByText(`Taxi dispatch Socket.IO API ${PROTOCOL_VERSION}`).filter({ visible: true }).first().waitFor({ timeout: 30000 });
        await page.locator('#asyncapi').getByText('offer.accept', { exact: true }).filter({ visible: true }).first().waitFor({ timeout: 30000 });
        await page.click('a[data-tab="rest"]');
        await page.locator('#swagger-ui').getByText('Taxi dispatch REST API').filter({ visible: true }).first().waitFor({ timeout: 30000 });
        await page.locator('#swagger-ui').getByText('/api/calls/{id}/accept').filter({ visible: true }).first().waitFor({ timeout: 30000 });
        const origin = new URL(url).origin;
        const foreign = requests.filter((r) => !r.startsWith(`${origin}/`) && !r.startsWith('data:'));
        expect(foreign, 'requests to other hosts').to.deep.equal([]);
        expect(requests).to.include.members([`${origin}/openapi.json`, `${origin}/asyncapi.json`]);
        expect(problems).to.deep.equal([]);
        await page.close();
      });
    });
  });
});
