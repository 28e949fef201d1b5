// ESLint (flat config): typescript-eslint's recommended rules, without type information so that
// linting stays fast, and Nx's module boundaries, which keep the layers' dependencies pointing one way:
// core <- base <- inference <- compute, core <- base <- fleet <- compute, and the apps on top; nothing
// depends on an app. A project's layer is its `nx.tags` entry in its package.json.
import { defineConfig } from 'eslint/config';
import nx from '@nx/eslint-plugin';
import eslintConfigPrettier from 'eslint-config-prettier/flat';
import tseslint from 'typescript-eslint';

const LIBS = ['layer:core', 'layer:base', 'layer:inference', 'layer:fleet', 'layer:compute'];

const depConstraints = [
  { sourceTag: 'layer:core', onlyDependOnLibsWithTags: ['layer:core'] },
  { sourceTag: 'layer:base', onlyDependOnLibsWithTags: ['layer:core', 'layer:base'] },
  { sourceTag: 'layer:inference', onlyDependOnLibsWithTags: ['layer:core', 'layer:base', 'layer:inference'] },
  // The API's library: no inference stack (onnxruntime-node, sharp) below it.
  { sourceTag: 'layer:fleet', onlyDependOnLibsWithTags: ['layer:core', 'layer:base', 'layer:fleet'] },
  { sourceTag: 'layer:compute', onlyDependOnLibsWithTags: LIBS },
  { sourceTag: 'layer:app', onlyDependOnLibsWithTags: LIBS },
];

export default defineConfig(
  {
    // Build outputs, local state, and the wasm kernels' generated modules (build-wasm-kernels.mjs).
    ignores: ['**/dist/', '**/coverage/', '.nx/', 'out/', '.cache/', '.gl/', '.whl/', '**/.padim-store/', 'libs/padim-core/src/**/*-wasm.ts'],
  },
  tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks a name that is unused on purpose: a parameter an interface requires,
      // or a key dropped from an object by a rest destructuring.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // A `let` that a callback reads before its one assignment (e.g. a server's handler and the server) stays a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Tests read the API's untyped JSON answers and feed deliberately malformed values.
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['libs/**/*.ts', 'apps/**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': ['error', { depConstraints }],
    },
  },
  {
    // Specs may use test helpers by path (other projects' src/testing/, and test/support/): those are
    // not part of any project's public entry point.
    files: ['libs/**/*.spec.ts', 'apps/**/*.spec.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', { depConstraints, allow: ['/src/testing/', '/test/support/'] }],
    },
  },
  {
    files: ['**/*.js'],
    // CommonJS files (jest's configuration and environment) load their dependencies with require().
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  eslintConfigPrettier,
);
