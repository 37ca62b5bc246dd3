// Second step of `npm run build` (after `tsc -p tsconfig.build.json`): copies into dist/ the files
// tsc does not emit but the code reads at run time, next to the compiled code that reads them
// (through import.meta.url):
//   - every file under server/ and clients/ that is not TypeScript, at the same relative path
//     (the Lua scripts, the SQL migrations and their meta JSON, static files of the gateway, ...);
//   - docs/openapi.json and docs/asyncapi.json into dist/docs/, when they exist.
// Run from anywhere: paths are relative to the repository (the parent of this file's folder).
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = join(root, 'dist');
const TREES = ['server', 'clients'];
const DOCS = ['docs/openapi.json', 'docs/asyncapi.json'];

/** Every file under `dir` (relative to the repository) that tsc does not emit, skipping node_modules. */
function assets(dir) {
  const found = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') found.push(...assets(path));
    } else if (entry.isFile() && !/\.(c|m)?tsx?$/.test(entry.name)) {
      found.push(path);
    }
  }
  return found;
}

const copy = (path) => {
  mkdirSync(dirname(join(dist, path)), { recursive: true });
  cpSync(join(root, path), join(dist, path));
};

let count = 0;
for (const tree of TREES) {
  for (const path of assets(tree)) {
    copy(path);
    count++;
  }
}
for (const path of DOCS) {
  if (!existsSync(join(root, path))) continue; // not generated yet: nothing to copy
  copy(path);
  count++;
}
process.stdout.write(`build-assets: ${count} files copied to ${relative(process.cwd(), dist) || '.'}\n`);

// The operator console's bundle (server/ops/bundle.ts, compiled above): console.js and console.css
// into dist/server/ops/console/build/, which the compiled server serves (it has no esbuild).
const { bundleConsole } = await import(new URL('../dist/server/ops/bundle.js', import.meta.url).href);
await bundleConsole(join(dist, 'server', 'ops', 'console', 'build'), join(root, 'server', 'ops', 'console', 'src'));
process.stdout.write('build-assets: operator console bundled into dist/server/ops/console/build/\n');
