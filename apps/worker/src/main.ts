#!/usr/bin/env node
import { loadFleetConfig, mallocHugePagesState } from '@padim-fleet/contracts';
import { FleetLogger, createFleetLogger } from '@padim-fleet/fleet';
import { startFleetWorker } from './fleet-worker';

/** Until the configuration is read (a bad LOG_LEVEL included), lines go out at the default level with URL passwords redacted. */
let logger: FleetLogger = createFleetLogger({}, 'worker');

/** A fleet worker process: its roles, store and Redis come from the environment (see libs/contracts). */
async function main(): Promise<void> {
  const config = loadFleetConfig();
  logger = createFleetLogger(config, 'worker');
  // glibc reads its tunables only at start, so the worker says how it was started (see the README).
  logger.info(`worker: malloc huge pages ${mallocHugePagesState()}`);
  const worker = await startFleetWorker(config, { logger });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`worker: ${signal}, finishing current jobs`);
    worker.close().then(
      () => process.exit(0),
      (error: Error) => {
        logger.fatal({ err: error }, `worker: shutdown failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: Error) => {
  logger.fatal({ err: error }, `worker: ${error.message}`);
  process.exit(1);
});
