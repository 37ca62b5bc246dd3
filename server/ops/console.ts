/**
 * The operator console, served by every gateway: GET /ops (and /ops/) the page, /ops/assets/<name>
 * its bundle (console.js, console.css: nothing else), GET /ops/config.json the thresholds the page
 * reads (public: no secret in it). The bundle is the prebuilt one next to this file
 * (console/build/, written by `npm run build`) or, running from source, made once per process in
 * memory by esbuild; with neither (a production install without the prebuilt files) /ops answers
 * 503. The page has a Content-Security-Policy of its own, checked in Chromium by
 * test/ops-console.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type Response } from 'express';
import { pagePolicy } from '../gateway/csp.js';
import { bundleConsole, type ConsoleBundle } from './bundle.js';
import type { ConsoleConfig } from './console-config.js';

/** What GET /ops/config.json answers. */
export type ConsoleSettings = ConsoleConfig;

const here = (file: string) => fileURLToPath(new URL(`./console/${file}`, import.meta.url));
const ASSET_TYPES: Readonly<Record<keyof ConsoleBundle, string>> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * Scripts, styles and images from this server (data: images: Leaflet's bundled icons), the feed's
 * websocket and the REST calls to this server ('self' covers same-origin ws: and wss: in Chromium),
 * plus the tile server's origin for images when MAP_TILE_URL is set. No inline script or style:
 * Leaflet positions its elements through element.style, which a policy does not govern.
 */
export function consoleCsp(tileUrl: string | null): string {
  const tiles = tileUrl ? ` ${new URL(tileUrl.replace(/[{}]/g, '')).origin}` : '';
  return pagePolicy({ script: "'self'", img: `'self' data:${tiles}` });
}

let memo: Promise<ConsoleBundle> | undefined;

/** The prebuilt bundle next to this file, else one made by esbuild (once per process). */
function loadBundle(): Promise<ConsoleBundle> {
  memo ??= (async () => {
    const js = here('build/console.js');
    const css = here('build/console.css');
    if (existsSync(js) && existsSync(css)) return { 'console.js': readFileSync(js, 'utf8'), 'console.css': readFileSync(css, 'utf8') };
    return bundleConsole();
  })();
  memo.catch(() => undefined);
  return memo;
}

export function opsConsoleRouter(settings: ConsoleSettings): express.Router {
  const router = express.Router({ strict: true });
  const csp = consoleCsp(settings.tileUrl);
  const unavailable = (res: Response, err: unknown) => {
    res.status(503).type('text/plain').set('Content-Security-Policy', csp)
      .send(`The operator console is not built: run \`npm run build\` (or run from source with esbuild installed). ${err instanceof Error ? err.message : ''}\n`);
  };
  router.get(['/ops', '/ops/'], (_req, res) => {
    loadBundle().then(() => {
      res.set('Content-Security-Policy', csp).type('html').send(readFileSync(here('index.html'), 'utf8'));
    }, (err: unknown) => unavailable(res, err));
  });
  router.get('/ops/config.json', (_req, res) => {
    res.set('Content-Security-Policy', csp).set('Cache-Control', 'no-store').json(settings);
  });
  router.get('/ops/assets/:name', (req, res, next) => {
    const name = req.params.name;
    if (!Object.hasOwn(ASSET_TYPES, name)) {
      next(); // the app's 404
      return;
    }
    loadBundle().then((b) => {
      res.set('Content-Security-Policy', csp).type(ASSET_TYPES[name as keyof ConsoleBundle]).send(b[name as keyof ConsoleBundle]);
    }, (err: unknown) => unavailable(res, err));
  });
  return router;
}
