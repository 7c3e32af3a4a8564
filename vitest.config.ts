import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { chromiumArgs, chromiumPath } from './scripts/chromium.ts';

const root = fileURLToPath(new URL('.', import.meta.url));
// The published test vectors live beside the repository (../shared/vectors), never copied in.
const vectorsDir = process.env.CONCLAVE_VECTORS_DIR ?? fileURLToPath(new URL('../shared/vectors', import.meta.url));

const common = {
  resolve: { alias: { '@vectors': vectorsDir } },
  server: { fs: { allow: [root, vectorsDir] } },
};

// Two projects run the same protocol-core suite: once in Node, once inside real
// Chromium, so the core is proven in the browser and not only on the server.
export default defineConfig({
  test: {
    projects: [
      {
        ...common,
        test: {
          name: 'node',
          environment: 'node',
          include: ['shared/test/**/*.test.ts', 'storage-api/test/**/*.test.ts', 'signaling-server/test/**/*.test.ts'],
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
    ],
  },
});
