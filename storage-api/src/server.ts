/** Starts the storage API: `npm start` (with the signaling server) or `npx tsx storage-api/src/server.ts`. */
import { build } from './app.ts';
import { loadConfig } from './config.ts';
import { logStreamFor } from './pretty-log.ts';

const config = loadConfig();
const logStream = logStreamFor(config.logFormat);
const app = await build(config, logStream ? { logStream } : {});
const address = await app.fastify.listen({ host: config.host, port: config.port });
const where = config.databaseUrl ? `PostgreSQL (schema ${config.databaseSchema})` : `SQLite in ${config.dataDir}/`;
console.log(`Conclave storage API listening on ${address} — ${where}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
}
