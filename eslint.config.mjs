// Lint catches what review should never have to: floating promises, import cycles,
// and reaching into another package's internals instead of its public entry point.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '.tern/**', 'bench/results/**', 'tests/artifacts/**', 'apps/tern/bin/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [importX.createNodeResolver({ extensions: ['.ts', '.js'] })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-relative-packages': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@tern/*/src/*', '@tern/*/src'],
              message: "Import a package's public entry point, not its src/.",
            },
          ],
        },
      ],
    },
  },
  {
    // process.env is read in exactly one place: the config package (and the CLI entry that hands it over).
    files: ['packages/**/*.ts', 'services/**/*.ts'],
    ignores: ['packages/config/**', 'packages/testing/**', '**/*.test.ts', '**/test/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through @tern/config.' },
      ],
    },
  },
  {
    files: ['services/**/*.ts'],
    // A service's test host is a composition root, like apps/tern: it may mount the services the
    // one under test talks to (auth's mail goes out through the jobs service).
    ignores: ['services/*/test/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@tern/*/src/*', '@tern/*/src'],
              message: "Import a package's public entry point, not its src/.",
            },
            {
              group: [
                '@tern/system',
                '@tern/auth',
                '@tern/data',
                '@tern/jobs',
                '@tern/payments',
                '@tern/gateway',
              ],
              message: 'Services never import each other: talk through HTTP contracts or the bus.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
      },
    },
  },
);
