import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's chromium (`.ci/run` installs it when missing), driven by playwright-core: no downloaded browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Why browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH) ? undefined : `${CHROMIUM_PATH} is missing: install it with apt-get install -y chromium (.ci/run does)`;
}

/**
 * Flags for a machine without a display, GPU or network: no sandbox (containers), no background or component
 * updates, sync, QUIC or first-run work that would try to reach the network and slow the start.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A headless chromium with a fresh profile (`--user-data-dir`), logged in with HTTP Basic on every request. */
export async function launchChromium(options: { username: string; password: string }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'fiscal-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    httpCredentials: { username: options.username, password: options.password },
    viewport: { width: 1400, height: 900 },
  });
  // A missing element fails with Playwright's own message (which locator) before the test's timeout hides it.
  context.setDefaultTimeout(15_000);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
