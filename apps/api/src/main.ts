#!/usr/bin/env node
import { loadFleetConfig } from '@padim-fleet/contracts';
import { createApiApp } from './api-app';

async function main(): Promise<void> {
  const config = loadFleetConfig();
  const app = await createApiApp(config);
  await app.listen(config.API_PORT, config.API_HOST);
  console.log(`api: listening on http://${config.API_HOST}:${config.API_PORT} (docs at /docs), store ${config.PADIM_STORE}`);
}

main().catch((error: Error) => {
  console.error(`api: ${error.message}`);
  process.exit(1);
});
