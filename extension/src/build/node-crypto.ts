/**
 * Stands in for Node's `crypto` in the extension's bundle (wxt.config.ts aliases it here).
 * @hpke/common falls back to `import("crypto")` only where `globalThis.crypto` is
 * missing, which never happens in a browser; this keeps Vite from warning that it
 * externalized a Node module, and keeps the fallback pointing at the same WebCrypto.
 */
export const webcrypto = globalThis.crypto;
export default { webcrypto };
