/**
 * The project stands on its own: no tracked file names a relative path that leaves the repository
 * (`../` past its root, resolved from the file's own folder) or a folder of the machine it was
 * written on. A clone with nothing beside it has everything it reads.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean)
  // (A file deleted in the work tree but not yet in git is skipped: a clone has none.)
  .filter((f) => !/(^|\/)package-lock\.json$|\.(png|jpg|ico|db)$/.test(f) && existsSync(resolve(ROOT, f)));
/** Strings that look like such paths and are not: hostile payloads the fuzz sends. */
const NOT_PATHS = new Set([`test/fuzz.test.ts: ${'..'}/../etc`]); // spelt so that this line is not one
/** Absolute folders that only exist on a developer's machine. */
const MACHINE_PATHS = /(?<![\w.-])\/(?:work|home|Users|root)\/[\w.-]+/g;

describe('the project stands on its own', () => {
  it(`none of the ${tracked.length} tracked files names a relative path that leaves the repository`, () => {
    const leaks: string[] = [];
    for (const file of tracked) {
      const text = readFileSync(resolve(ROOT, file), 'utf8');
      for (const m of text.matchAll(/(?:\.\.\/)+[\w.@-]*/g)) {
        const target = relative(ROOT, resolve(ROOT, dirname(file), m[0]));
        if (target.startsWith('..') && !NOT_PATHS.has(`${file}: ${m[0]}`)) leaks.push(`${file}: ${m[0]}`);
      }
    }
    expect(leaks).to.deep.equal([]);
  });

  it('none names a folder of the machine it was written on', () => {
    const leaks: string[] = [];
    for (const file of tracked) {
      for (const m of readFileSync(resolve(ROOT, file), 'utf8').matchAll(MACHINE_PATHS)) leaks.push(`${file}: ${m[0]}`);
    }
    expect(leaks).to.deep.equal([]);
  });
});
