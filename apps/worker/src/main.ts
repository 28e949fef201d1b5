#!/usr/bin/env node
import { loadFleetConfig, redactCredentials, redactingLog } from '@padim-fleet/contracts';
import { startFleetWorker } from './fleet-worker';

/** Error lines, without credentials: URL passwords always, the configured secrets once the configuration is read. */
let printError = (line: string) => console.error(redactCredentials(line));

/** A fleet worker process: its roles, store and Redis come from the environment (see libs/contracts). */
async function main(): Promise<void> {
  const config = loadFleetConfig();
  const log = redactingLog(config, (line) => console.log(line));
  printError = redactingLog(config, (line) => console.error(line));
  const worker = await startFleetWorker(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`worker: ${signal}, finishing current jobs`);
    worker.close().then(
      () => process.exit(0),
      (error: Error) => {
        printError(`worker: shutdown failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: Error) => {
  printError(`worker: ${error.message}`);
  process.exit(1);
});
