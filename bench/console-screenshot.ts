/**
 * `npm run screenshot`: the README's picture of the operator console (docs/ops-console.png). Not a
 * benchmark; it lives beside the bench because it drives the same dev kit. It runs `dispatch demo`
 * on a free port, opens the console address the demo prints in Debian's Chromium (playwright-core,
 * CHROMIUM_PATH to override), waits until the simulated city shows drivers and a dispatched call,
 * and writes the screenshot. Every request to another host is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { spawnNode } from '../server/devkit/child.js';
import { freePort } from '../server/devkit/ports.js';

const OUT = fileURLToPath(new URL('../docs/ops-console.png', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Runs in the page (a function, not a string: the console's policy has no 'unsafe-eval'). */
const count = ([selector, least]: readonly [string, number]) =>
  (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll(selector).length >= least;

async function main(): Promise<void> {
  const port = await freePort();
  const demo = spawnNode(['clients/cli/bin.js', 'demo', '--port', String(port), '--drivers', '60', '--rider-every-ms', '600-1500'], {
    env: { PORT: undefined },
  });
  const profile = mkdtempSync(join(tmpdir(), 'ops-shot-'));
  try {
    const line = await demo.line((l) => l.includes('operator console: '), 'the demo\'s console address', 90_000);
    const url = line.slice(line.indexOf('http')).trim();
    const origin = new URL(url).origin;
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1440, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await context.newPage();
      await page.route('**/*', (route) => (new URL(route.request().url()).origin === origin ? route.continue() : route.abort()));
      await page.goto(url);
      await page.waitForFunction(count, ['[data-testid="driver-marker"]', 40] as const, { timeout: 60_000 });
      // A city in motion: several calls dispatched at once, with their driver lines.
      await page.waitForFunction(count, ['[data-testid="call-marker"][data-state="dispatched"]', 3] as const, { timeout: 90_000 });
      await page.screenshot({ path: OUT });
      process.stdout.write(`wrote ${OUT}\n`);
    } finally {
      await context.close();
    }
  } finally {
    demo.signal('SIGTERM');
    await demo.exited;
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
