/**
 * `PeerTransport` where the background itself has RTCPeerConnection: Firefox, whose
 * background is a page (DESIGN §7). PeerJS runs in process; tokens are made here from
 * the identity in IndexedDB. Same behaviour as the offscreen transport: idempotent
 * `start()` that re-reads the settings, fresh token per registration, re-registration
 * with backoff, incoming channels kept until `onIncoming`.
 *
 * WXT builds Firefox as MV2, whose background page is persistent, so the registration
 * lasts. Under MV3 it would be an event page, unloaded when idle with the
 * registration; the background's alarms calling `start()` would register anew.
 */
import type { MessageChannel } from '@conclave/shared/p2p';
import { channelFromDataConnection } from '@conclave/shared/p2p';
import { fetchPresence, makePresenceToken } from '@conclave/shared/p2p';
import { makeRegistrationToken } from '@conclave/shared/p2p';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { TransportDeps } from './offscreen-transport.ts';
import { PeerRegistration, type PeerFactory } from './peer-registration.ts';
import { deferredChannel } from './port-channel.ts';
import { resolveRegistrationOptions, signalingBase } from './signaling-options.ts';
import type { PeerTransport } from './transport.ts';
import { TransportError } from './transport-error.ts';

export interface InProcessTransportOptions {
  fetch?: typeof fetch;
  startTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number };
}

export function createInProcessTransport(deps: TransportDeps, createPeer: PeerFactory, options: InProcessTransportOptions = {}): PeerTransport {
  const fetchImpl = options.fetch ?? ((...args: Parameters<typeof fetch>) => fetch(...args));
  const startTimeoutMs = options.startTimeoutMs ?? 15_000;
  let incomingHandler: ((channel: MessageChannel) => void) | undefined;
  const incomingQueue: MessageChannel[] = [];

  const registration = new PeerRegistration({
    createPeer,
    token: async () => {
      const identity = await deps.identity();
      if (!identity) throw new TransportError('no-identity', 'this device has no identity yet');
      return makeRegistrationToken(identity);
    },
    onConnection: (conn) => {
      const channel = channelFromDataConnection(conn);
      if (incomingHandler) incomingHandler(channel);
      else incomingQueue.push(channel);
    },
    ...(options.backoff ? { backoff: options.backoff } : {}),
  });

  const start = async (): Promise<void> => {
    const identity = await deps.identity();
    if (!identity) throw new TransportError('no-identity', 'this device has no identity yet: create one first');
    const resolved = await resolveRegistrationOptions(identity.fingerprint, await deps.settings(), fetchImpl);
    const registered = registration.start(resolved);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TransportError('timeout', 'the signaling server did not register this device in time; retrying in the background')), startTimeoutMs);
    });
    try {
      await Promise.race([registered, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    start,

    async online(ids: readonly Fingerprint[]): Promise<Fingerprint[]> {
      if (ids.length === 0) return [];
      const identity = await deps.identity();
      if (!identity) throw new TransportError('no-identity', 'this device has no identity yet');
      // Answered only while this device is registered (start() registers it).
      return fetchPresence(signalingBase(await deps.settings()), ids, () => makePresenceToken(identity), fetchImpl);
    },

    connect(peer: Fingerprint): MessageChannel {
      const channel = deferredChannel();
      void (async () => {
        if (!registration.registered) await start();
        if (channel.closed) return;
        const conn = registration.connect(peer);
        if (!conn) throw new TransportError('registration-failed', 'not registered with the signaling server');
        channel.attach(channelFromDataConnection(conn));
      })().catch(() => channel.close());
      return channel;
    },

    onIncoming(handler) {
      incomingHandler = handler;
      for (const channel of incomingQueue.splice(0)) handler(channel);
    },

    async stop(): Promise<void> {
      registration.stop();
    },
  };
}
