import { existsSync } from 'node:fs';
import { describe, it } from '@jest/globals';

/** Debian's chromium package (`apt-get install chromium`; .ci/run installs it): puppeteer-core drives it, nothing is downloaded. */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * A describe block that needs Chromium. Where it is missing the block is skipped with a printed reason,
 * except in CI (CI=true), where a skipped check would hide a broken set-up, so it fails instead.
 */
export function describeWithChromium(name: string, fn: () => void): void {
  if (existsSync(CHROMIUM)) {
    describe(name, fn);
    return;
  }
  const reason = `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has Chromium', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  console.warn(`skipping "${name}": ${reason}`);
  describe.skip(name, fn);
}
