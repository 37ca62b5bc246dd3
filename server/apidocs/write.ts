/** `npm run docs`: regenerate docs/openapi.json and docs/asyncapi.json from protocol/. */
import { writeFileSync } from 'node:fs';
import { SPEC_FILES, specText, type SpecFile } from './specs.js';

for (const file of Object.keys(SPEC_FILES) as SpecFile[]) {
  const url = new URL(`../../docs/${file}`, import.meta.url);
  writeFileSync(url, specText(file));
  process.stdout.write(`wrote docs/${file}\n`);
}
