/**
 * The operator console's bundle: server/ops/console/src/main.ts and the style sheets it imports
 * (Leaflet's and console.css), bundled by esbuild into `console.js` and `console.css`. esbuild is a
 * devDependency: it is imported when called, never at load, so the compiled server runs without it
 * (it then serves the prebuilt files `npm run build` wrote, see deploy/build-assets.js).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bundle's two files, by the name /ops/assets/ serves them under. */
export interface ConsoleBundle {
  'console.js': string;
  'console.css': string;
}

/** The sources (server/ops/console/src), next to this file in the repository. */
export const CONSOLE_SRC = fileURLToPath(new URL('./console/src/', import.meta.url));

interface OutputFile { path: string; text: string }
interface Esbuild {
  build(options: Record<string, unknown>): Promise<{ outputFiles?: OutputFile[] }>;
}

/**
 * Bundle the console. With `outdir`, writes console.js and console.css there; always resolves with
 * both texts. `src`: the folder holding main.ts (the repository's by default).
 */
export async function bundleConsole(outdir?: string, src: string = CONSOLE_SRC): Promise<ConsoleBundle> {
  const name = 'esbuild';
  const esbuild = (await import(name)) as Esbuild;
  const result = await esbuild.build({
    entryPoints: { console: `${src.replace(/\/$/, '')}/main.ts` },
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    platform: 'browser',
    outdir: outdir ?? '/ops-console-out',
    write: false,
    loader: { '.png': 'dataurl', '.svg': 'dataurl' },
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files = result.outputFiles ?? [];
  const text = (ext: string) => {
    const f = files.find((o) => o.path.endsWith(`console${ext}`));
    if (!f) throw new Error(`esbuild wrote no console${ext}`);
    return f.text;
  };
  const bundle: ConsoleBundle = { 'console.js': text('.js'), 'console.css': text('.css') };
  if (outdir) {
    mkdirSync(outdir, { recursive: true });
    for (const file of ['console.js', 'console.css'] as const) writeFileSync(join(outdir, file), bundle[file]);
  }
  return bundle;
}
