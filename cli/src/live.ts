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
import { channelFromDataConnection, fetchPresence, keyHolderCandidates, makePresenceToken, makeRegistrationToken, receiveKeyFromPeers, serveKeyHandover, type DataConnectionLike } from '@conclave/shared/p2p';
import type { HandshakeOutcome } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import type { Device } from './device.ts';
import { CliError, EXIT } from './errors.ts';
import { coalescing, openEvents, runUntilStopped, secondsOption } from './live-events.ts';
import { whoseDevice, whoseDeviceAnywhere } from './people.ts';

export interface PeerLike {
  once(event: 'open', listener: () => void): unknown;
  once(event: 'error', listener: (error: unknown) => void): unknown;
  on(event: 'connection', listener: (conn: DataConnectionLike) => void): unknown;
  off(event: 'connection', listener: (conn: DataConnectionLike) => void): unknown;
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

/** Registers this device with the signaling server (its fingerprint as peer id). */
async function openPeer(device: Device, Peer: PeerCtor, url: URL, timeoutMs: number): Promise<{ peer: PeerLike; opened: Promise<void>; base: string }> {
  const secure = url.protocol === 'https:';
  const port = Number(url.port || (secure ? 443 : 80));
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const peer = new Peer(device.fingerprint, { host: url.hostname, port, path, key: 'peerjs', secure, token: await makeRegistrationToken(device.identity), config: { iceServers: [] }, debug: 0 });
  const opened = new Promise<void>((resolve, reject) => {
    // Cleared as soon as the peer opens or fails: a pending timer would keep the process alive.
    const timer = setTimeout(() => reject(new Error('the signaling server did not answer')), timeoutMs);
    timer.unref();
    peer.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    peer.once('error', (error) => {
      clearTimeout(timer);
      reject(error instanceof Error ? error : new Error(String(error)));
    });
  });
  opened.catch(() => undefined);
  return { peer, opened, base: `${url.origin}${path}` };
}

/** A peer registered with the signaling server under this device's fingerprint (destroy it when done). */
export interface OnlinePeer {
  peer: PeerLike;
  /** The signaling server's PeerJS base address (presence queries). */
  base: string;
}

/**
 * Registers this device with the signaling server, for work that cannot do without it
 * (serving keys, linking a device).
 * @param what `doing`: the work, for "… needs the signaling server"; `without`: what that means when Node WebRTC is missing.
 * @throws {CliError} setup (no address, no WebRTC) or unreachable (the server did not take the registration).
 */
export async function onlinePeer(device: Device, what: { doing: string; without: string }, timeoutMs = 20_000): Promise<OnlinePeer> {
  const url = signalUrl(device);
  if (!url) throw new CliError(EXIT.setup, `${what.doing} needs the signaling server: pass --signal <url> or set CONCLAVE_SIGNAL (e.g. http://127.0.0.1:9000/peerjs).`);
  const Peer = await loadPeerJs();
  if (!Peer) throw new CliError(EXIT.setup, `Node WebRTC (@roamhq/wrtc) is not installed here, so ${what.without}.`);
  const { peer, opened, base } = await openPeer(device, Peer, url, timeoutMs);
  try {
    await opened;
  } catch (error) {
    peer.destroy();
    const message = (error as Error).message;
    // PeerJS refuses a second registration of one id: this device is already online elsewhere.
    if (/taken/i.test(message)) throw new CliError(EXIT.refused, `this device is already online on the signaling server (is \`conclave serve\` running on ${device.ctx.global.home}?): stop it first (one process at a time can be this device online), then run this again.`);
    throw new CliError(EXIT.unreachable, `cannot register with the signaling server at ${url.href} (${message}): check --signal.`);
  }
  return { peer, base };
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
  const { peer, opened, base } = await openPeer(device, Peer, url, timeoutMs);
  try {
    await opened;
    const result = await receiveKeyFromPeers(
      device.identity,
      state,
      {
        online: (ids) => fetchPresence(base, ids, () => makePresenceToken(device.identity)),
        connect: (fingerprint) => channelFromDataConnection(peer.connect(fingerprint, { reliable: true })),
      },
      {
        onConnecting: (fp) => device.progress(`Asking ${whoseDevice(device, state, fp)} for the key, live…`),
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

/**
 * `conclave serve`: stays online as a key holder for `seconds` (or until Ctrl-C) and
 * hands the key live to members who ask, under the same rules as the extension (a
 * member of this device's validated log, verified here — or anyone who joined, under
 * `invite-trust`). With `mailbox`, it also answers the mailbox every 30 seconds.
 */
export async function serve(device: Device, options: { for?: string; mailbox?: boolean }): Promise<void> {
  const seconds = secondsOption(options.for);
  const { peer } = await onlinePeer(device, {
    doing: 'serving keys live',
    without: 'this device cannot hand keys over live: admins can still hand them over by mailbox (`conclave group handover`)',
  });
  try {
    const client = await device.client();
    const report = async (outcome: HandshakeOutcome) => {
      if (outcome.kind === 'sent') device.ctx.io.out(`Handed the key (generation ${outcome.generation}) to ${await whoseDeviceAnywhere(device, outcome.peer)}, live.\n`);
      else if (outcome.kind === 'refused') device.progress(`A handover ended without the key (${outcome.reason}, ${outcome.by === 'me' ? 'refused here' : outcome.by === 'peer' ? 'refused by the other device' : 'connection closed'}).`);
      else if (outcome.kind === 'fork') device.progress(`A member's device signed a different group history (${outcome.peer.slice(0, 16)}): see \`conclave group members\`.`);
    };
    // The state directory's lock is held per piece of a handover, never for the whole
    // run: other commands on this directory run beside `serve` (lock.ts).
    const stop = serveKeyHandover(peer, device.identity, async (groupId, requester) => {
      const held = await device.locked(() => client.heldGroup(groupId, requester));
      return held && { ...held, notePeerHead: (evidence) => device.locked(() => client.notePeerHead(groupId, evidence)) };
    }, { onOutcome: (outcome) => void report(outcome).catch(() => undefined) });
    device.progress(`Online as a key holder${seconds ? ` for ${seconds} s` : ' (Ctrl-C to stop)'}.`);
    const answerGroup = async (groupId: GroupId) => {
      try {
        const { result, state } = await device.locked(async () => ({ result: await client.handOverPending(groupId), state: await client.state(groupId) }));
        for (const fp of result.sent) device.ctx.io.out(`Handed the key to ${whoseDevice(device, state, fp)} by mailbox.\n`);
      } catch {
        // Not an admin, no key, or the server is away: the next round tries again.
      }
    };
    // One pass per group at a time, at most one more queued: a member asking again and
    // again costs this admin no more than that.
    const answer = coalescing(answerGroup, () => undefined);
    const answerAll = coalescing(
      async () => {
        for (const groupId of await device.store.groups()) await answer(groupId);
      },
      () => undefined,
    );
    const answerSoon = () => void answerAll('all');
    // The mailbox is answered as requests arrive (live events), on every (re)connection
    // (its heads), and once a minute as a backstop.
    const events = options.mailbox
      ? await openEvents(client, (event) => {
          if (event.type === 'heads') answerSoon();
          else if (event.type === 'request') void answer(event.groupId);
        })
      : null;
    const timer = options.mailbox ? setInterval(answerSoon, 60_000) : undefined;
    await runUntilStopped(seconds).done;
    if (timer) clearInterval(timer);
    await events?.close();
    await answerAll('all');
    stop();
  } finally {
    peer.destroy();
  }
}
