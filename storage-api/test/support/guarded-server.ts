/**
 * storage-api/src/server.ts with a lifetime guard, for tests that spawn real API
 * processes: it exits when its parent goes away (stdin closes) or after
 * `CONCLAVE_TEST_LIFETIME_MS` (default 2 minutes), so no test leaves a server behind.
 */
const lifetimeMs = Number(process.env.CONCLAVE_TEST_LIFETIME_MS ?? 120_000);
setTimeout(() => process.exit(0), lifetimeMs).unref();
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
await import('../../src/server.ts');

export {};
