/** Starts the signaling server: listen, and serve /metrics on its own listener when asked. */
import type { AddressInfo } from 'node:net';
import { build } from './app.ts';
import { loadConfig } from './config.ts';
import { serveMetrics } from './metrics.ts';

const config = loadConfig();
const signaling = build(config);
const metricsListener = config.metricsPort === undefined ? undefined : await serveMetrics(signaling.metrics, config.metricsPort, config.metricsHost);
if (metricsListener) console.log(`Conclave signaling metrics on http://${config.metricsHost}:${metricsListener.port}/metrics`);
if (signaling.cluster) console.log(`Conclave signaling node ${signaling.cluster.nodeId}: sharing presence, tokens and relays through Redis (prefix ${config.redisPrefix})`);
signaling.server.listen(config.port, config.host, () => {
  const { address, port } = signaling.server.address() as AddressInfo;
  // What a PeerJS client is configured with (host, port, path); its WebSocket is ${wsPath} below it.
  console.log(`Conclave signaling server listening on http://${address}:${port}${config.path} (PeerJS host ${address}, port ${port}, path ${config.path})`);
});
const stop = (): void => {
  // peer's own timers keep the process alive after close(): exit explicitly.
  void Promise.all([signaling.close(), metricsListener?.close()]).finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
