#!/usr/bin/env node
import { loadFleetConfig } from '@padim-fleet/contracts';
import { FleetLogger, createFleetLogger } from '@padim-fleet/fleet';
import { createApiApp } from './api-app';
import { HealthService } from './services/health.service';

/** How long the API waits for Redis at start before listening anyway (and saying not ready). */
const REDIS_START_WAIT_MS = 5000;

/** Until the configuration is read (a bad LOG_LEVEL included), lines go out at the default level with URL passwords redacted. */
let logger: FleetLogger = createFleetLogger({}, 'api');

async function main(): Promise<void> {
  const config = loadFleetConfig();
  logger = createFleetLogger(config, 'api');
  const app = await createApiApp(config, { logger });
  await app.get(HealthService).checkAtStart(REDIS_START_WAIT_MS);
  await app.listen(config.API_PORT, config.API_HOST);
  logger.info(
    { host: config.API_HOST, port: config.API_PORT, store: config.PADIM_STORE },
    `api: listening on http://${config.API_HOST}:${config.API_PORT} (docs at /docs), store ${config.PADIM_STORE}`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`api: ${signal}, stopping within ${config.API_SHUTDOWN_GRACE_MS} ms`);
    // Requests or connections that do not finish in time (Redis or the store gone) do not hold the process.
    setTimeout(() => {
      logger.fatal(`api: not stopped after ${config.API_SHUTDOWN_GRACE_MS} ms (API_SHUTDOWN_GRACE_MS), exiting`);
      process.exit(1);
    }, config.API_SHUTDOWN_GRACE_MS).unref();
    app.close().then(
      () => process.exit(0),
      (error: Error) => {
        logger.fatal({ err: error }, `api: shutdown failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: Error) => {
  logger.fatal({ err: error }, `api: ${error.message}`);
  process.exit(1);
});
