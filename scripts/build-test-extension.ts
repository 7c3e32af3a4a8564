/**
 * Builds the transport test fixture (extension/test/platform/fixture): the product's
 * offscreen document and p2p modules behind a test background, into
 * .output/p2p-fixture/chrome-mv3. Its own root keeps WXT's generated types (its .wxt/,
 * git-ignored) apart from the product's. Run by scripts/test-all.sh before vitest.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'wxt';
import { extensionVite } from './extension-vite.ts';

const repo = fileURLToPath(new URL('..', import.meta.url));
export const fixtureOutDir = path.join(repo, '.output/p2p-fixture/chrome-mv3');

await build({
  root: path.join(repo, 'extension/test/platform/fixture'),
  configFile: false,
  srcDir: path.join(repo, 'extension/test/platform/fixture'),
  outDir: path.join(repo, '.output/p2p-fixture'),
  browser: 'chrome',
  imports: false,
  vite: () => extensionVite(),
  manifest: {
    name: 'Conclave transport fixture',
    version: '0.0.0',
    permissions: ['storage', 'offscreen'],
    host_permissions: ['http://127.0.0.1/*', 'http://localhost/*'],
  },
});
console.log(`transport fixture built in ${path.relative(repo, fixtureOutDir)}`);
