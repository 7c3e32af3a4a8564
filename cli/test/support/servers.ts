/** A real storage API (SQLite) and a real signaling server on loopback, for the CLI's live tests. */
import type { AddressInfo } from 'node:net';
import { build, type SignalingServer } from '../../../signaling-server/src/app.ts';
import { loadConfig } from '../../../signaling-server/src/config.ts';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';

export interface Servers {
  api: TestServer;
  signaling: SignalingServer;
  /** The signaling server's PeerJS address, as `--signal` takes it. */
  signalUrl: string;
  close(): Promise<void>;
}

export async function startServers(): Promise<Servers> {
  const api = await startServer('sqlite');
  const signaling = build(loadConfig({}, { port: 0 }), { log: () => {} });
  await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
  const signalUrl = `http://127.0.0.1:${(signaling.server.address() as AddressInfo).port}/peerjs`;
  return {
    api,
    signaling,
    signalUrl,
    async close() {
      await signaling.close();
      await api.close();
    },
  };
}
