/**
 * The live key handover over Node WebRTC (DESIGN §6.3): a joiner without the key asks
 * the signaling server which key holders are online and runs the joiner handshake with
 * each in turn (shared/src/p2p/joiner-handover.ts); a received seed is kept only once
 * the validated log confirms it (`GroupClient.acceptHandedKey`).
 *
 * Node has no WebRTC of its own: `@roamhq/wrtc` is loaded when installed (it is an
 * optional native package, a dev dependency of this repository). Without it, or without
 * a signaling server address (--signal / CONCLAVE_SIGNAL), the CLI says so and the
 * mailbox path carries on.
 */
import { channelFromDataConnection, fetchPresence, keyHolderCandidates, makePresenceToken, makeRegistrationToken, receiveKeyFromPeers, type DataConnectionLike } from '@conclave/shared/p2p';
import type { GroupId } from '@conclave/shared/protocol';
import type { Device } from './device.ts';
import { who } from './output.ts';

interface PeerLike {
  once(event: 'open', listener: () => void): unknown;
  once(event: 'error', listener: (error: unknown) => void): unknown;
  connect(peer: string, options?: Record<string, unknown>): DataConnectionLike;
  destroy(): void;
}

type PeerCtor = new (id: string, options: Record<string, unknown>) => PeerLike;

/** Installs WebRTC and a browser-like WebSocket, then loads PeerJS; null when Node WebRTC is not installed. */
async function loadPeerJs(): Promise<PeerCtor | null> {
  let wrtc: Record<string, unknown>;
  try {
    const module = (await import('@roamhq/wrtc' as string)) as { default?: Record<string, unknown> } & Record<string, unknown>;
    wrtc = module.default ?? module;
  } catch {
    return null;
  }
  const g = globalThis as Record<string, unknown>;
  g.RTCPeerConnection ??= wrtc.RTCPeerConnection;
  g.RTCSessionDescription ??= wrtc.RTCSessionDescription;
  g.RTCIceCandidate ??= wrtc.RTCIceCandidate;
  const { WebSocket: NodeWebSocket } = (await import('ws' as string)) as { WebSocket: new (...args: unknown[]) => { on(e: string, l: () => void): void } };
  class BrowserLikeWebSocket extends NodeWebSocket {
    constructor(...args: unknown[]) {
      super(...args);
      this.on('error', () => {});
    }
  }
  g.WebSocket ??= BrowserLikeWebSocket;
  g.window ??= globalThis;
  g.navigator ??= {};
  const peerjs = (await import('peerjs' as string)) as { Peer?: PeerCtor; default?: { Peer: PeerCtor } };
  return peerjs.Peer ?? peerjs.default?.Peer ?? null;
}

/** The signaling server's PeerJS address, e.g. http://127.0.0.1:9000/peerjs. */
function signalUrl(device: Device): URL | null {
  const text = device.ctx.global.signal ?? device.ctx.io.env.CONCLAVE_SIGNAL;
  if (!text) return null;
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/**
 * Tries to receive the group key from an online member.
 * @returns true when this device now holds the current key.
 */
export async function tryLiveHandover(device: Device, groupId: GroupId, timeoutMs = 20_000): Promise<boolean> {
  const url = signalUrl(device);
  if (!url) {
    device.progress('No signaling server address (--signal or CONCLAVE_SIGNAL): skipping the live handover, using the mailbox.');
    return false;
  }
  const Peer = await loadPeerJs();
  if (!Peer) {
    device.progress('Node WebRTC (@roamhq/wrtc) is not installed here, so the key cannot come live from a member: using the mailbox instead.');
    return false;
  }
  const client = await device.client();
  const state = await client.state(groupId);
  if (keyHolderCandidates(state, device.fingerprint).length === 0) return false;
  const secure = url.protocol === 'https:';
  const port = Number(url.port || (secure ? 443 : 80));
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const peer = new Peer(device.fingerprint, { host: url.hostname, port, path, key: 'peerjs', secure, token: await makeRegistrationToken(device.identity), config: { iceServers: [] }, debug: 0 });
  try {
    await new Promise<void>((resolve, reject) => {
      peer.once('open', () => resolve());
      peer.once('error', (error) => reject(error instanceof Error ? error : new Error(String(error))));
      setTimeout(() => reject(new Error('the signaling server did not answer')), timeoutMs);
    });
    const base = `${url.origin}${path}`;
    const result = await receiveKeyFromPeers(
      device.identity,
      state,
      {
        online: (ids) => fetchPresence(base, ids, () => makePresenceToken(device.identity)),
        connect: (fingerprint) => channelFromDataConnection(peer.connect(fingerprint, { reliable: true })),
      },
      {
        onConnecting: (fp) => device.progress(`Asking ${who(device.names.memberName(fp), fp)} for the key, live…`),
        notePeerHead: (evidence) => client.notePeerHead(groupId, evidence),
        timeoutMs,
      },
    );
    if (result.kind === 'received') {
      await client.acceptHandedKey(groupId, result.generation, result.seed);
      device.progress('Received the key live.');
      return true;
    }
    if (result.kind === 'fork') device.progress(`A member's device signed a different group history than the server's: do not trust this copy until an admin has looked (\`conclave group members ${groupId.slice(0, 8)}\`).`);
    else device.progress(result.kind === 'nobody-online' ? 'No key holder is online right now: using the mailbox.' : 'No online member handed over the key (they may not have verified you yet): using the mailbox.');
    return false;
  } catch (error) {
    device.progress(`The live handover did not work (${(error as Error).message}): using the mailbox.`);
    return false;
  } finally {
    peer.destroy();
  }
}
