/**
 * The two baselines the Chromium benches measure between their runs, in the same
 * browser: an extension page opened in a new tab until its heading shows, and a storage
 * API round trip (`/health`) from an extension page.
 */
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import type { Client } from '../../e2e/support/clients.ts';

export async function pageOpenMs(client: Client): Promise<number> {
  const start = performance.now();
  const tab = await client.context.newPage();
  await tab.goto(`chrome-extension://${client.id}/popup.html`);
  await tab.getByRole('heading', { level: 1 }).first().waitFor({ timeout: 15_000 });
  const ms = performance.now() - start;
  await tab.close();
  return ms;
}

export async function apiRoundTripMs(page: Page, apiUrl: string): Promise<number> {
  return page.evaluate(async (url) => {
    const start = performance.now();
    const response = await fetch(`${url}/health`, { cache: 'no-store' });
    await response.json();
    return performance.now() - start;
  }, apiUrl);
}
