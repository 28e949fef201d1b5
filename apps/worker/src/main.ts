#!/usr/bin/env node
import { loadFleetConfig } from '@padim-fleet/contracts';
import { startFleetWorker } from './fleet-worker';

/** A fleet worker process: its roles, store and Redis come from the environment (see libs/contracts). */
async function main(): Promise<void> {
  const config = loadFleetConfig();
  const worker = await startFleetWorker(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`worker: ${signal}, finishing current jobs`);
    worker.close().then(
      () => process.exit(0),
      (error: Error) => {
        console.error(`worker: shutdown failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: Error) => {
  console.error(`worker: ${error.message}`);
  process.exit(1);
});
