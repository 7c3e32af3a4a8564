/**
 * `PeerTransport` for Chrome's service worker (DESIGN §7, MV3): the worker has no
 * RTCPeerConnection, so PeerJS lives in an offscreen document (offscreen-host.ts) and
 * this side only commands it and takes its data connections as ports. The handshakes
 * run here, next to the keys; the offscreen document moves text.
 *
 * - Created synchronously at worker start: its `onConnect`/`onMessage` listeners must
 *   exist before Chrome delivers the event that woke the worker (an incoming port).
 *   Incoming channels that arrive before `onIncoming(handler)` are kept for it.
 * - `start()` re-reads identity and settings, creates the offscreen document when
 *   `runtime.getContexts` shows none (only one may exist), and has it register;
 *   new settings replace the registration. Calls are serialised.
 * - Tokens: the offscreen document asks for one per registration; only a sender that
 *   is this extension's offscreen page gets one.
 * - `online()` asks the signaling server directly; no offscreen document needed.
 */
import { browser } from 'wxt/browser';
import type { MessageChannel } from '@conclave/shared/p2p';
import type { DeviceIdentity } from '@conclave/shared/crypto';
import { fetchPresence, makePresenceToken } from '@conclave/shared/p2p';
import { makeRegistrationToken } from '@conclave/shared/p2p';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { Settings } from '../messages/views.ts';
import {
  OFFSCREEN_PATH,
  P2P_CHANNEL,
  backgroundRequestSchema,
  commandReplySchema,
  isOffscreenSender,
  parsePortName,
  type OffscreenCommand,
  type RegistrationOptions,
  type SenderLike,
  type TokenReply,
} from './internal-messages.ts';
import { channelFromPort, deferredChannel, type DeferredChannel, type PortLike } from './port-channel.ts';
import { resolveRegistrationOptions, signalingBase } from './signaling-options.ts';
import type { PeerTransport } from './transport.ts';
import { TransportError } from './transport-error.ts';

export interface TransportDeps {
  /** This device's identity (from IndexedDB), or null before one is created. */
  identity: () => Promise<DeviceIdentity | null>;
  /** The current settings (signaling URL, ICE servers). */
  settings: () => Promise<Settings>;
}

type Listener<A extends unknown[], R = void> = { addListener(listener: (...args: A) => R): void };

/** The part of `runtime` the background side uses. */
export interface BackgroundRuntime {
  readonly id: string;
  getURL(path: string): string;
  getContexts(filter: { contextTypes: Array<'OFFSCREEN_DOCUMENT'> }): Promise<Array<{ documentUrl?: string | undefined }>>;
  sendMessage(message: unknown): Promise<unknown>;
  readonly onMessage: Listener<[message: unknown, sender: SenderLike, sendResponse: (response: unknown) => void], boolean | undefined | void>;
  readonly onConnect: Listener<[port: PortLike & { readonly sender?: SenderLike | undefined }]>;
}

export interface OffscreenApi {
  createDocument(parameters: { url: string; reasons: Array<'WEB_RTC'>; justification: string }): Promise<void>;
  closeDocument(): Promise<void>;
}

export interface OffscreenTransportOptions {
  runtime?: BackgroundRuntime;
  offscreen?: OffscreenApi;
  fetch?: typeof fetch;
  /** How long `start()` waits for the registration (it keeps retrying afterwards). */
  startTimeoutMs?: number;
  /** How long the offscreen document may take to answer its first message. */
  readyTimeoutMs?: number;
}

export const START_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 5_000;
const CONFIG_TTL_MS = 5 * 60_000;
const JUSTIFICATION = 'Conclave hands group keys to other members over WebRTC data channels (PeerJS); a service worker has no RTCPeerConnection.';

function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(error()), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (reason: unknown) => {
        clearTimeout(timer);
        reject(reason);
      },
    );
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The Chrome transport. Call it synchronously at worker start (see the module note). */
export function createOffscreenTransport(deps: TransportDeps, options: OffscreenTransportOptions = {}): PeerTransport {
  const runtime: BackgroundRuntime = options.runtime ?? browser.runtime;
  const offscreen: OffscreenApi = options.offscreen ?? browser.offscreen;
  const fetchImpl = options.fetch ?? ((...args: Parameters<typeof fetch>) => fetch(...args));
  const startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
  const readyTimeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const offscreenUrl = runtime.getURL(OFFSCREEN_PATH);

  let incomingHandler: ((channel: MessageChannel) => void) | undefined;
  const incomingQueue: MessageChannel[] = [];
  const outgoing = new Map<string, DeferredChannel>();
  let serial: Promise<unknown> = Promise.resolve();
  let cachedOptions: { key: string; options: RegistrationOptions; at: number } | undefined;

  const serialise = <T>(task: () => Promise<T>): Promise<T> => {
    const run = serial.then(task, task);
    serial = run.catch(() => undefined);
    return run;
  };

  // --- listeners: registered now, before any await ---------------------------------
  runtime.onMessage.addListener((message, sender, sendResponse) => {
    if ((message as { channel?: unknown } | null)?.channel !== P2P_CHANNEL) return undefined;
    if (!backgroundRequestSchema.safeParse(message).success) return undefined;
    if (!isOffscreenSender(sender, runtime.id, offscreenUrl)) {
      sendResponse({ ok: false, error: 'refused: tokens are only for the offscreen document' } satisfies TokenReply);
      return undefined;
    }
    makeToken().then(sendResponse, (error: unknown) => sendResponse({ ok: false, error: (error as Error).message } satisfies TokenReply));
    return true;
  });

  runtime.onConnect.addListener((port) => {
    const parsed = parsePortName(port.name);
    if (!parsed) return; // another listener's port
    if (!isOffscreenSender(port.sender, runtime.id, offscreenUrl)) {
      port.disconnect();
      return;
    }
    if (parsed.direction === 'out') {
      const waiting = outgoing.get(parsed.connId);
      if (!waiting) {
        port.disconnect();
        return;
      }
      outgoing.delete(parsed.connId);
      waiting.attach(channelFromPort(port));
      return;
    }
    const channel = channelFromPort(port);
    if (incomingHandler) incomingHandler(channel);
    else incomingQueue.push(channel);
  });

  async function makeToken(): Promise<TokenReply> {
    const identity = await deps.identity();
    if (!identity) return { ok: false, error: 'this device has no identity yet' };
    return { ok: true, token: await makeRegistrationToken(identity) };
  }

  async function registrationOptions(): Promise<RegistrationOptions> {
    const identity = await deps.identity();
    if (!identity) throw new TransportError('no-identity', 'this device has no identity yet: create one first');
    const settings = await deps.settings();
    const key = JSON.stringify([identity.fingerprint, settings.signalingUrl, settings.iceServers]);
    if (cachedOptions && cachedOptions.key === key && Date.now() - cachedOptions.at < CONFIG_TTL_MS) return cachedOptions.options;
    const resolved = await resolveRegistrationOptions(identity.fingerprint, settings, fetchImpl);
    cachedOptions = { key, options: resolved, at: Date.now() };
    return resolved;
  }

  async function offscreenExists(): Promise<boolean> {
    const contexts = await runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] });
    return contexts.length > 0;
  }

  async function ensureOffscreen(): Promise<void> {
    if (await offscreenExists()) return;
    try {
      await offscreen.createDocument({ url: OFFSCREEN_PATH.slice(1), reasons: ['WEB_RTC'], justification: JUSTIFICATION });
    } catch (error) {
      // Another context may have created it a moment ago: only one can exist.
      if (!(await offscreenExists())) throw new TransportError('offscreen', `the offscreen document could not be created (${(error as Error).message})`);
    }
  }

  /** Sends a command; retries while the document is still loading (nobody answers yet). */
  async function command(message: OffscreenCommand, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      let reply: unknown;
      try {
        reply = await withTimeout(runtime.sendMessage(message), timeoutMs, () => new TransportError('timeout', 'the signaling server did not register this device in time; retrying in the background'));
      } catch (error) {
        if (error instanceof TransportError) throw error;
        reply = undefined;
      }
      const parsed = commandReplySchema.safeParse(reply);
      if (parsed.success) {
        if (!parsed.data.ok) throw new TransportError(message.type === 'start' ? 'registration-failed' : 'offscreen', parsed.data.error);
        return;
      }
      if (Date.now() > deadline) throw new TransportError('offscreen', 'the offscreen document does not answer');
      await sleep(100);
    }
  }

  const start = (): Promise<void> =>
    serialise(async () => {
      const registration = await registrationOptions();
      await ensureOffscreen();
      await command({ channel: P2P_CHANNEL, to: 'offscreen', type: 'start', options: registration }, startTimeoutMs);
    });

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
      const connId = crypto.randomUUID();
      outgoing.set(connId, channel);
      channel.onClose(() => outgoing.delete(connId));
      void (async () => {
        await start();
        if (channel.closed) return;
        await command({ channel: P2P_CHANNEL, to: 'offscreen', type: 'connect', connId, peer }, readyTimeoutMs);
      })().catch(() => channel.close());
      return channel;
    },

    onIncoming(handler) {
      incomingHandler = handler;
      for (const channel of incomingQueue.splice(0)) handler(channel);
    },

    stop: () =>
      serialise(async () => {
        for (const channel of [...outgoing.values()]) channel.close();
        outgoing.clear();
        cachedOptions = undefined;
        if (!(await offscreenExists())) return;
        await command({ channel: P2P_CHANNEL, to: 'offscreen', type: 'stop' }, readyTimeoutMs).catch(() => undefined);
        await offscreen.closeDocument().catch(() => undefined);
      }),
  };
}
