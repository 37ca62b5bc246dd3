/** The two API documents as the files committed under docs/ (`npm run docs` writes them; a test compares). */
import { asyncApiDocument } from './asyncapi.js';
import { openApiDocument } from './openapi.js';

export const SPEC_FILES = {
  'openapi.json': openApiDocument,
  'asyncapi.json': asyncApiDocument,
} as const;
export type SpecFile = keyof typeof SPEC_FILES;

/** The text of a committed spec file: two-space JSON and a final newline. */
export function specText(file: SpecFile): string {
  return `${JSON.stringify(SPEC_FILES[file](), null, 2)}\n`;
}
