/**
 * A PeerJS `Peer`'s incoming connections as message channels: what a new device waiting
 * to be linked listens on (`LinkOffer.wait`) in Node, as `serveKeyHandover` does for
 * key holders.
 */
import type { PeerLike } from './holder-service.ts';
import { channelFromDataConnection, type DataConnectionLike } from './peerjs-channel.ts';
import type { MessageChannel } from './channel.ts';

export function incomingFromPeer(peer: PeerLike): { onChannel(handler: (channel: MessageChannel) => void): () => void } {
  return {
    onChannel(handler) {
      const listener = (conn: DataConnectionLike) => handler(channelFromDataConnection(conn));
      peer.on('connection', listener);
      return () => {
        peer.off('connection', listener);
      };
    },
  };
}
