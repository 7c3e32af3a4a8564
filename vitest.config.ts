import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { WxtVitest } from 'wxt/testing/vitest-plugin';
import preact from '@preact/preset-vite';
import { chromiumArgs, chromiumPath } from './scripts/chromium.ts';

const root = fileURLToPath(new URL('.', import.meta.url));
// The published test vectors, copied in with their source and licence (shared/test/vectors/README.md).
const vectorsDir = fileURLToPath(new URL('./shared/test/vectors', import.meta.url));

const common = {
  resolve: { alias: { '@vectors': vectorsDir } },
  server: { fs: { allow: [root, vectorsDir] } },
};

// Two projects run the same protocol-core suite: once in Node, once inside real
// Chromium, so the core is proven in the browser and not only on the server. The
// `extension` project runs the extension's own tests in Node with WXT's fake browser
// (`wxt/browser` is the fake, `import.meta.env.*` as in a Chrome build) and
// fake-indexeddb; its *.node.test.ts drive the built extension in real Chromium
// through Playwright. `extension-chromium` renders the extension's pages in real
// Chromium (*.browser.test.tsx; they mock `wxt/browser` themselves). `e2e` drives the
// built extension in several Chromium profiles against real servers (e2e/).
export default defineConfig({
  test: {
    projects: [
      {
        ...common,
        test: {
          name: 'node',
          environment: 'node',
          include: ['shared/test/**/*.test.ts', 'storage-api/test/**/*.test.ts', 'signaling-server/test/**/*.test.ts', 'cli/test/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        ...common,
        test: {
          name: 'chromium',
          include: ['shared/test/**/*.test.ts'],
          // *.node.test.ts read the repository from disk: Node only.
          exclude: ['**/*.node.test.ts', '**/node_modules/**'],
          testTimeout: 60_000,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({ launchOptions: { executablePath: chromiumPath, args: chromiumArgs } }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        ...common,
        plugins: [WxtVitest()],
        test: {
          name: 'extension',
          // Node, not jsdom: the background's tests start a real storage API in process.
          environment: 'node',
          include: ['extension/test/**/*.test.ts'],
          exclude: ['extension/test/**/*.browser.test.{ts,tsx}', '**/node_modules/**'],
          setupFiles: ['fake-indexeddb/auto'],
          testTimeout: 30_000,
        },
      },
      {
        ...common,
        plugins: [preact()],
        test: {
          name: 'extension-chromium',
          // The extension's pages rendered in real Chromium (Preact components, CSS).
          include: ['extension/test/**/*.browser.test.{ts,tsx}'],
          testTimeout: 60_000,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({ launchOptions: { executablePath: chromiumPath, args: chromiumArgs } }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        ...common,
        test: {
          name: 'e2e',
          // The seed's story in real Chromium with the built extension (.output/chrome-mv3,
          // built by scripts/test-all.sh first), real servers on loopback: e2e/*.e2e.test.ts.
          environment: 'node',
          include: ['e2e/**/*.e2e.test.ts'],
          // Steps share browsers and servers, one after another: never in parallel. The
          // project runs after the others (groupOrder), so its browsers do not compete with
          // theirs for the CPU.
          fileParallelism: false,
          sequence: { concurrent: false, groupOrder: 1 },
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
