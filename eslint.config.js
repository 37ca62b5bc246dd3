// Flat ESLint config: typescript-eslint's recommended rules with type information.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules', 'data', 'coverage', 'dist', 'protocol/dist', 'server/ledger/migrations'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['*.js', 'clients/cli/*.js'] }, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // chai's property assertions (`.to.be.true`) are expressions by design.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unused-expressions': 'off' },
  },
  {
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The /docs page's own script runs in the browser, next to the two viewers' bundles.
    files: ['server/gateway/docs/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', location: 'readonly', fetch: 'readonly', SwaggerUIBundle: 'readonly', AsyncApiStandalone: 'readonly' },
    },
  },
  {
    // The bench and the CLI build on the dev kit (server/devkit/), never on the tests' code.
    files: ['bench/**', 'clients/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '(^|/)test(/|$)', message: 'bench/ and clients/ must not import test/: use the dev kit in server/devkit/.' }],
      }],
    },
  },
  // Roles match processes: gateway code (sockets, REST, the riders' and drivers' actions) and
  // dispatcher code (matching, timers, the ledger writer) never import each other. What both use
  // lives beside them: the command layer (server/redis/), effects, jobs, pushes, and what a ledger
  // is (server/ledger/store.ts: gateways read the ledger through it). server/app.ts composes a
  // process of either role and may import both, and opens the ledger.
  {
    files: ['server/gateway/**', 'server/calls/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          regex: '(^|/)dispatch/|(^|/)ledger/(?!store\\.js$)',
          message: 'gateway code must not import dispatcher code (server/dispatch/, server/ledger/ but its store.ts).',
        }],
      }],
    },
  },
  {
    files: ['server/dispatch/**', 'server/ledger/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '(^|/)(gateway|calls)/', message: 'dispatcher code must not import gateway code (server/gateway/, server/calls/).' }],
      }],
    },
  },
  {
    files: ['protocol/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '(^|/)server/', message: 'protocol/ is a package of its own: it never imports the server.' }],
      }],
    },
  },
);
