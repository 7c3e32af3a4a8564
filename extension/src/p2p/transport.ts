/**
 * The peer-to-peer transport as the background sees it (DESIGN §7, MV3): a service
 * worker has no RTCPeerConnection, so PeerJS lives in an offscreen document (Chrome)
 * or the background page (Firefox). The background runs every handshake itself — it
 * holds the keys — over channels this transport relays; the transport only moves text.
 */
import type { MessageChannel } from '@conclave/shared/p2p';
import type { Fingerprint } from '@conclave/shared/protocol';

export interface PeerTransport {
  /** Registers this device with the signaling server (idempotent); resolves once registered. */
  start(): Promise<void>;
  /** Which of these devices are connected to the signaling server now. */
  online(ids: readonly Fingerprint[]): Promise<Fingerprint[]>;
  /** A data connection to `peer` as a handshake channel (it may never open: the handshake times out). */
  connect(peer: Fingerprint): MessageChannel;
  /** Called with a channel for every connection another device opens to this one. */
  onIncoming(handler: (channel: MessageChannel) => void): void;
  /** Unregisters (on leaving every group, or when the settings change). */
  stop(): Promise<void>;
}
