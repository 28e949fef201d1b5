#!/usr/bin/env node
import { loadFleetConfig, redactCredentials, redactingLog } from '@padim-fleet/contracts';
import { createApiApp } from './api-app';

/** Error lines, without credentials: URL passwords always, the configured secrets once the configuration is read. */
let printError = (line: string) => console.error(redactCredentials(line));

async function main(): Promise<void> {
  const config = loadFleetConfig();
  printError = redactingLog(config, (line) => console.error(line));
  const app = await createApiApp(config);
  await app.listen(config.API_PORT, config.API_HOST);
  redactingLog(config, (line) => console.log(line))(`api: listening on http://${config.API_HOST}:${config.API_PORT} (docs at /docs), store ${config.PADIM_STORE}`);
}

main().catch((error: Error) => {
  printError(`api: ${error.message}`);
  process.exit(1);
});
