/**
 * The Vite settings every extension build shares (the product's, wxt.config.ts, and the
 * transport test fixture's, scripts/build-test-extension.ts), so each builds without
 * warnings that are not about our code:
 * - Node's `crypto` resolves to extension/src/build/node-crypto.ts (WebCrypto): @hpke
 *   imports it only where `globalThis.crypto` is missing, never in a browser;
 * - Rollup's notices about `@__PURE__` comments it cannot use, which zod, @scure/base and
 *   @hpke put in node_modules, are left out of the log.
 */
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger, type UserConfig } from 'vite';

export function extensionVite(): Pick<UserConfig, 'resolve' | 'customLogger'> {
  return {
    resolve: { alias: { crypto: fileURLToPath(new URL('../extension/src/build/node-crypto.ts', import.meta.url)) } },
    customLogger: quietAboutThirdPartyAnnotations(createLogger()),
  };
}

function quietAboutThirdPartyAnnotations(logger: Logger): Logger {
  const isNotice = (message: string) => message.includes('node_modules/') && message.includes('annotation that Rollup cannot interpret');
  const { warn, warnOnce } = logger;
  logger.warn = (message, options) => (isNotice(message) ? undefined : warn(message, options));
  logger.warnOnce = (message, options) => (isNotice(message) ? undefined : warnOnce(message, options));
  return logger;
}
