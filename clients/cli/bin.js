#!/usr/bin/env node
// `dispatch` launcher. The command runs in this process, so Ctrl-C, SIGTERM and SIGHUP reach the
// command itself and it can stop cleanly. It runs
//   - the TypeScript sources through tsx when tsx can be loaded (a checkout with its devDependencies);
//   - otherwise the compiled CLI of `npm run build` (dist/clients/cli/run.js), as in the production
//     image, which has no devDependencies.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const here = new URL('./', import.meta.url);
const compiled = [new URL('run.js', here), new URL('../../dist/clients/cli/run.js', here)].find((u) => existsSync(u));

async function loadTsx() {
  if (!existsSync(new URL('run.ts', here))) return undefined; // this copy of bin.js sits in dist/
  try {
    return await import('tsx/esm/api');
  } catch (err) {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

const tsx = await loadTsx();
if (tsx) {
  tsx.register();
  await import('./run.ts');
} else if (compiled) {
  await import(compiled.href);
} else {
  process.stderr.write('dispatch: tsx is not installed and there is no compiled CLI: run `npm install` (for tsx) or `npm run build`\n');
  process.exit(1);
}
