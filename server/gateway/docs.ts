/**
 * The API documents, served offline: GET /openapi.json and /asyncapi.json (the committed files
 * under docs/), and GET /docs rendering both with Swagger UI and the AsyncAPI React standalone
 * bundle, every asset from this server. Read-only, no input but the path: anything else under
 * /docs is the app's 404. The pages get a Content-Security-Policy of their own that allows exactly what the
 * viewers need (helmet's default blocks them).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Response } from 'express';
import { pagePolicy } from './csp.js';

const require = createRequire(import.meta.url);
const here = (file: string) => fileURLToPath(new URL(`./docs/${file}`, import.meta.url));
const spec = (file: string) => fileURLToPath(new URL(`../../docs/${file}`, import.meta.url));
const swaggerUi = dirname(require.resolve('swagger-ui-dist/package.json'));
const asyncApiUi = dirname(dirname(dirname(require.resolve('@asyncapi/react-component/browser/standalone/index.js'))));

/** Every asset the page references, by the name it is served under: nothing else is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'docs.js': here('docs.js'),
  'docs.css': here('docs.css'),
  'swagger-ui-bundle.js': join(swaggerUi, 'swagger-ui-bundle.js'),
  'swagger-ui.css': join(swaggerUi, 'swagger-ui.css'),
  'asyncapi.js': join(asyncApiUi, 'browser', 'standalone', 'index.js'),
  'asyncapi.css': join(asyncApiUi, 'styles', 'default.min.css'),
};

/**
 * What the viewers need and nothing more (each part checked in Chromium by test/docs.test.ts):
 * scripts and style sheets from this server, data: images (Swagger UI's icons), fetches of the two
 * documents from this server, and eval (the AsyncAPI bundle's schema validator compiles its checks
 * with `new Function`). No inline script or style, no other origin, no frames, forms or plugins.
 */
export const DOCS_CSP = pagePolicy({ script: "'self' 'unsafe-eval'", img: "'self' data:" });

export function docsRouter(): express.Router {
  const router = express.Router({ strict: true });
  const send = (res: Response, path: string, next: NextFunction) =>
    res.sendFile(path, { headers: { 'Content-Security-Policy': DOCS_CSP } }, (err?: Error & { status?: number }) => {
      if (err?.status === 404 && !res.headersSent) next(); // the app's 404
      else if (err) next(err);
    });
  router.get('/openapi.json', (_req, res, next) => send(res, spec('openapi.json'), next));
  router.get('/asyncapi.json', (_req, res, next) => send(res, spec('asyncapi.json'), next));
  router.get(['/docs', '/docs/'], (_req, res, next) => send(res, here('index.html'), next));
  router.get('/docs/assets/:name', (req, res, next) => {
    const path = Object.hasOwn(ASSETS, req.params.name) ? ASSETS[req.params.name] : undefined;
    if (path) send(res, path, next);
    else next(); // the app's 404
  });
  return router;
}
