#!/usr/bin/env node
import { relaunchWithMallocHugePages } from '@padim-fleet/contracts';

// The commands, and onnxruntime with them, load only in the process that runs them: where this one
// relaunches itself with huge pages for malloc, it stays a small parent that waits.
relaunchWithMallocHugePages()
  .then((code) => code ?? import('./cli').then(({ main }) => main(process.argv.slice(2))))
  .then((code) => process.exit(code));
