/**
 * The servers of an end-to-end run, as `npm start` would run them but on free loopback
 * ports: the storage API on a fresh SQLite file in a temporary directory (its request
 * log captured line by line, for the final scan) and the signaling server (its log
 * captured too). `stop()` always stops both and is safe to call twice; `dispose()`
 * also deletes the data directory, after the scan has read it.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build as buildSignaling, type SignalingServer } from '../../signaling-server/src/app.ts';
import { loadConfig as loadSignalingConfig } from '../../signaling-server/src/config.ts';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';

export interface System {
  /** The storage API's base URL (http://127.0.0.1:<port>). */
  apiUrl: string;
  /** The PeerJS signaling URL the extension takes (http://127.0.0.1:<port>/peerjs). */
  signalingUrl: string;
  /** The directory holding the SQLite database and its -wal/-shm files. */
  dataDir: string;
  /** The SQLite database file. */
  sqlitePath: string;
  /** Every line the storage API logged so far (one JSON object per request and response). */
  apiLog(): string;
  /** Every line the signaling server logged so far. */
  signalingLog(): string;
  /** The storage API itself (its store, for closing the database before a byte scan). */
  api: TestServer;
  signaling: SignalingServer;
  /** Stops both servers and keeps the data for scanning. Never throws; safe to call twice. */
  stop(): Promise<void>;
  /** Stops both servers and deletes the data directory. Never throws; safe to call twice. */
  dispose(): Promise<void>;
}

export async function startSystem(): Promise<System> {
  // logLevel 'debug': the API logs every request line (method and path; never bodies).
  const api = await startServer('sqlite', { config: { logLevel: 'debug' } });
  const signalingLines: string[] = [];
  let signaling: SignalingServer | undefined;
  try {
    signaling = buildSignaling(loadSignalingConfig({}, { port: 0 }), { log: (line) => signalingLines.push(line) });
    const server = signaling.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await signaling?.close().catch(() => undefined);
    await api.close().catch(() => undefined);
    throw error;
  }
  const port = (signaling.server.address() as AddressInfo).port;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.allSettled([signaling.close(), api.stop()]);
  };
  return {
    apiUrl: api.url,
    signalingUrl: `http://127.0.0.1:${port}/peerjs`,
    dataDir: api.dataDir!,
    sqlitePath: join(api.dataDir!, 'conclave.sqlite'),
    apiLog: () => api.logs(),
    signalingLog: () => signalingLines.join('\n'),
    api,
    signaling,
    stop,
    async dispose() {
      await stop();
      await api.close().catch(() => undefined);
    },
  };
}
