/**
 * PeerJS in Node for benchmarks: installs the RTC globals (@roamhq/wrtc) and a
 * browser-like WebSocket (from ws) before importing peerjs (STACK-NOTES), and registers
 * peers with the signaling server using valid registration tokens. The same setup as
 * signaling-server/test/support/peerjs-node.ts, kept here so benchmarks import nothing
 * from test folders.
 */
import type { DeviceIdentity } from '../../shared/src/crypto/identity.ts';
import { makeRegistrationToken } from '../../shared/src/p2p/registration-token.ts';

const wrtcModule = (await import('@roamhq/wrtc')) as unknown as { default?: Record<string, unknown> } & Record<string, unknown>;
const wrtc = wrtcModule.default ?? wrtcModule;
const g = globalThis as Record<string, unknown>;
g.RTCPeerConnection ??= wrtc.RTCPeerConnection;
g.RTCSessionDescription ??= wrtc.RTCSessionDescription;
g.RTCIceCandidate ??= wrtc.RTCIceCandidate;
// peerjs sets no `onerror` on its socket; a `ws` socket that errors with no listener
// throws. A browser never does, so every socket gets a no-op error listener.
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

/** Registers `identity` (its fingerprint as peer id) with the signaling server on 127.0.0.1:`port`; resolves once open. */
export async function openPeer(port: number, identity: DeviceIdentity, path = '/peerjs'): Promise<PeerInstance> {
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
  await new Promise<void>((resolve, reject) => {
    peer.once('open', () => resolve());
    peer.once('error', (e) => reject(e));
  });
  return peer;
}
