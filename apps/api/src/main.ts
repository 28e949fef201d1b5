#!/usr/bin/env node
import { loadFleetConfig, redactCredentials, redactingLog } from '@padim-fleet/contracts';
import { createApiApp } from './api-app';
import { HealthService } from './services/health.service';

/** How long the API waits for Redis at start before listening anyway (and saying not ready). */
const REDIS_START_WAIT_MS = 5000;

/** Error lines, without credentials: URL passwords always, the configured secrets once the configuration is read. */
let printError = (line: string) => console.error(redactCredentials(line));

async function main(): Promise<void> {
  const config = loadFleetConfig();
  printError = redactingLog(config, (line) => console.error(line));
  const app = await createApiApp(config);
  await app.get(HealthService).checkAtStart(REDIS_START_WAIT_MS);
  await app.listen(config.API_PORT, config.API_HOST);
  const log = redactingLog(config, (line) => console.log(line));
  log(`api: listening on http://${config.API_HOST}:${config.API_PORT} (docs at /docs), store ${config.PADIM_STORE}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`api: ${signal}, stopping within ${config.API_SHUTDOWN_GRACE_MS} ms`);
    // Requests or connections that do not finish in time (Redis or the store gone) do not hold the process.
    setTimeout(() => {
      printError(`api: not stopped after ${config.API_SHUTDOWN_GRACE_MS} ms (API_SHUTDOWN_GRACE_MS), exiting`);
      process.exit(1);
    }, config.API_SHUTDOWN_GRACE_MS).unref();
    app.close().then(
      () => process.exit(0),
      (error: Error) => {
        printError(`api: shutdown failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: Error) => {
  printError(`api: ${error.message}`);
  process.exit(1);
});
