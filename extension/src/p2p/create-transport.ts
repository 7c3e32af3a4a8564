/**
 * The background's peer-to-peer transport (DESIGN §7, MV3), whichever browser it is
 * built for:
 * - Chrome: PeerJS in an offscreen document, handshakes here (offscreen-transport.ts);
 * - Firefox: PeerJS in the background page itself (in-process-transport.ts), loaded
 *   with a dynamic import that the Chrome build drops, so peerjs never reaches the
 *   service worker.
 *
 * Call `createPeerTransport` synchronously when the background starts (not after an
 * await): its listeners must be in place for the connection that woke the worker.
 */
import type { MessageChannel } from '@conclave/shared/p2p';
import type { Fingerprint } from '@conclave/shared/protocol';
import { createOffscreenTransport, type TransportDeps } from './offscreen-transport.ts';
import { deferredChannel } from './port-channel.ts';
import type { PeerTransport } from './transport.ts';

export type { TransportDeps } from './offscreen-transport.ts';
export { TransportError, type TransportFailure } from './transport-error.ts';

export function createPeerTransport(deps: TransportDeps): PeerTransport {
  if (import.meta.env.FIREFOX) {
    return lazyTransport(
      Promise.all([import('./in-process-transport.ts'), import('./peerjs-factory.ts')]).then(([m, f]) => m.createInProcessTransport(deps, f.createPeerJs)),
    );
  }
  return createOffscreenTransport(deps);
}

/** A transport whose implementation is still loading; calls wait for it, in order. */
function lazyTransport(loading: Promise<PeerTransport>): PeerTransport {
  return {
    start: async () => (await loading).start(),
    online: async (ids: readonly Fingerprint[]) => (await loading).online(ids),
    connect(peer: Fingerprint): MessageChannel {
      const channel = deferredChannel();
      loading.then((transport) => channel.attach(transport.connect(peer)), () => channel.close());
      return channel;
    },
    onIncoming(handler) {
      void loading.then((transport) => transport.onIncoming(handler));
    },
    stop: async () => (await loading).stop(),
  };
}
