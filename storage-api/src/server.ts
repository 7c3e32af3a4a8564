/** Starts the storage API: `npm start` (with the signaling server) or `npx tsx storage-api/src/server.ts`. */
import { build } from './app.ts';
import { loadConfig } from './config.ts';
import { logStreamFor } from './pretty-log.ts';
import { serveMetrics } from './services/metrics.ts';

const config = loadConfig();
const logStream = logStreamFor(config.logFormat);
const app = await build(config, logStream ? { logStream } : {});
const address = await app.fastify.listen({ host: config.host, port: config.port });
const where = config.databaseUrl ? `PostgreSQL (schema ${config.databaseSchema})` : `SQLite in ${config.dataDir}/`;
console.log(`Conclave storage API listening on ${address} — ${where}${config.redisUrl ? ', rate limits shared through Redis' : ''}`);
// Metrics on a listener of their own (never the API's port), only when asked for.
const metrics = config.metricsPort === undefined ? null : await serveMetrics(app.metrics, config.metricsHost, config.metricsPort);
if (metrics) console.log(`Conclave storage API metrics on ${metrics.url}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.all([metrics?.close(), app.close()]).then(() => process.exit(0));
  });
}
