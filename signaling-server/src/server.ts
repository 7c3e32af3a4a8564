/** Starts the signaling server: listen only. */
import type { AddressInfo } from 'node:net';
import { build } from './app.ts';
import { loadConfig } from './config.ts';

const config = loadConfig();
const signaling = build(config);
signaling.server.listen(config.port, config.host, () => {
  const { address, port } = signaling.server.address() as AddressInfo;
  console.log(`signaling server on ws://${address}:${port}${signaling.wsPath} (PeerJS path '${config.path}')`);
});
const stop = (): void => {
  // peer's own timers keep the process alive after close(): exit explicitly.
  void signaling.close().finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
