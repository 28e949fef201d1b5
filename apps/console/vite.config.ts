import { defineConfig } from 'vite';

/** The console is served by the API under /console; every asset is a file of its own (no inline scripts, for the CSP). */
export default defineConfig({
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, assetsInlineLimit: 0, modulePreload: { polyfill: false } },
});
