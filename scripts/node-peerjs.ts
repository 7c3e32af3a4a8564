/**
 * PeerJS in Node, for tests and benchmarks: installs the RTC globals
 * (@roamhq/wrtc) and a browser-like WebSocket (from ws) before importing peerjs, and
 * registers peers with the signaling server using fresh registration tokens.
 */
import type { DeviceIdentity } from '@conclave/shared/crypto';
import { makeRegistrationToken } from '@conclave/shared/p2p';

const wrtcModule = (await import('@roamhq/wrtc')) as unknown as { default?: Record<string, unknown> } & Record<string, unknown>;
const wrtc = wrtcModule.default ?? wrtcModule;
const g = globalThis as Record<string, unknown>;
g.RTCPeerConnection ??= wrtc.RTCPeerConnection;
g.RTCSessionDescription ??= wrtc.RTCSessionDescription;
g.RTCIceCandidate ??= wrtc.RTCIceCandidate;
// peerjs sets no `onerror`; a `ws` socket whose upgrade is refused then emits 'error'
// with no listener, which throws (uncaught) and swallows the 'close' peerjs waits for.
// A browser never throws there, so every socket gets a no-op error listener.
const { WebSocket: NodeWebSocket } = await import('ws');
class BrowserLikeWebSocket extends NodeWebSocket {
  constructor(...args: ConstructorParameters<typeof NodeWebSocket>) {
    super(...args);
    this.on('error', () => {});
  }
}
g.WebSocket ??= BrowserLikeWebSocket;
g.window ??= globalThis;
g.navigator ??= {};
const peerjs = (await import('peerjs')) as unknown as { Peer?: typeof import('peerjs').Peer; default: { Peer: typeof import('peerjs').Peer } };

export const Peer = peerjs.Peer ?? peerjs.default.Peer;
export type PeerInstance = InstanceType<typeof Peer>;
export type DataConnection = import('peerjs').DataConnection;

/**
 * Registers `identity` (its fingerprint as peer id) with the signaling server on
 * 127.0.0.1:`port`; resolves once open.
 * @param track the peer is pushed here as soon as it exists, so cleanup finds it even if opening fails.
 */
export async function openPeer(port: number, identity: DeviceIdentity, track?: PeerInstance[], path = '/peerjs'): Promise<PeerInstance> {
  const peer = new Peer(identity.fingerprint, {
    host: '127.0.0.1',
    port,
    path,
    key: 'peerjs',
    secure: false,
    token: await makeRegistrationToken(identity),
    config: { iceServers: [] },
    debug: 0,
  });
  track?.push(peer);
  await new Promise<void>((resolve, reject) => {
    peer.once('open', () => resolve());
    peer.once('error', (e) => reject(e));
  });
  return peer;
}
