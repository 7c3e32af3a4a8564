/** Starts the signaling server: listen only. */
import type { AddressInfo } from 'node:net';
import { build } from './app.ts';
import { loadConfig } from './config.ts';

const config = loadConfig();
const signaling = build(config);
signaling.server.listen(config.port, config.host, () => {
  const { address, port } = signaling.server.address() as AddressInfo;
  // What a PeerJS client is configured with (host, port, path); its WebSocket is ${wsPath} below it.
  console.log(`Conclave signaling server listening on http://${address}:${port}${config.path} (PeerJS host ${address}, port ${port}, path ${config.path})`);
});
const stop = (): void => {
  // peer's own timers keep the process alive after close(): exit explicitly.
  void signaling.close().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
