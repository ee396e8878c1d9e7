// Builds the playground bundle (Vite, from the sources) and serves it with
// `tsbpf playground`'s server, for the end-to-end tests in headless
// Chromium (Debian's chromium through playwright-core, as test/browser).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { ROOT } from '../browser/support.ts';
import { playgroundServer } from '../../src/cli/commands/playground.ts';

export const PLAYGROUND_DIST = join(ROOT, 'playground', 'dist');
/** Where screenshots of failed steps go. */
export const SCREENSHOT_DIR = '/tmp/tsbpf-playground-failures';

export async function buildPlayground(): Promise<void> {
  await build({ configFile: join(ROOT, 'playground', 'vite.config.ts'), logLevel: 'error' });
}

export async function servePlayground(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = playgroundServer(PLAYGROUND_DIST);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Runs `body`; on failure saves a screenshot of `page` and names its path in the error. */
export async function step<T>(page: Page, name: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const path = join(SCREENSHOT_DIR, `${name.replace(/[^\w-]+/g, '-')}.png`);
    await page.screenshot({ path, fullPage: true }).catch(() => undefined);
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${name}: ${message}\nscreenshot: ${path}`, { cause: error });
  }
}
