/**
 * The offscreen document's whole job (Chrome, DESIGN §7 MV3): hold the PeerJS peer
 * the service worker cannot, and move text. Each data connection, incoming or
 * outgoing, is relayed over its own `runtime.connect` port to the background, which
 * runs the handshake. Registration tokens are asked from the background for every
 * registration, so no key ever reaches this document.
 *
 * An incoming connection opens its port at once; that wakes the service worker if it
 * was asleep, and its `onConnect` listener (registered at worker start) takes it.
 */
import { channelFromDataConnection } from '@conclave/shared/p2p';
import {
  P2P_CHANNEL,
  offscreenCommandSchema,
  portName,
  tokenReplySchema,
  type CommandReply,
  type OffscreenCommand,
  type PortDirection,
  type SenderLike,
} from './internal-messages.ts';
import { channelFromPort, pipeChannels, type PortLike } from './port-channel.ts';
import { PeerRegistration, type PeerConnectionLike, type PeerFactory, type RegistrationDeps } from './peer-registration.ts';

/** The part of `runtime` the offscreen document uses. */
export interface OffscreenRuntime {
  readonly id: string;
  sendMessage(message: unknown): Promise<unknown>;
  connect(connectInfo: { name: string }): PortLike;
  readonly onMessage: {
    addListener(listener: (message: unknown, sender: SenderLike, sendResponse: (response: unknown) => void) => boolean | undefined | void): void;
  };
}

export interface OffscreenHostDeps {
  runtime: OffscreenRuntime;
  createPeer: PeerFactory;
  backoff?: RegistrationDeps['backoff'];
}

export interface OffscreenHost {
  readonly registration: PeerRegistration;
}

function newConnId(): string {
  return crypto.randomUUID();
}

/** Starts listening for the background's commands. Call once, at the document's start. */
export function startOffscreenHost(deps: OffscreenHostDeps): OffscreenHost {
  const { runtime } = deps;

  const requestToken = async (): Promise<string> => {
    const reply = tokenReplySchema.safeParse(await runtime.sendMessage({ channel: P2P_CHANNEL, to: 'background', type: 'token' }));
    if (!reply.success) throw new Error('the background gave no token');
    if (!reply.data.ok) throw new Error(reply.data.error);
    return reply.data.token;
  };

  const relay = (conn: PeerConnectionLike, direction: PortDirection, connId: string): void => {
    let port: PortLike;
    try {
      port = runtime.connect({ name: portName(direction, connId) });
    } catch {
      conn.close();
      return;
    }
    pipeChannels(channelFromDataConnection(conn), channelFromPort(port));
  };

  const registration = new PeerRegistration({
    createPeer: deps.createPeer,
    token: requestToken,
    onConnection: (conn) => relay(conn, 'in', newConnId()),
    ...(deps.backoff ? { backoff: deps.backoff } : {}),
  });

  const handle = async (command: OffscreenCommand): Promise<CommandReply> => {
    switch (command.type) {
      case 'start':
        await registration.start(command.options);
        return { ok: true };
      case 'connect': {
        const conn = registration.connect(command.peer);
        if (!conn) return { ok: false, error: `not registered with the signaling server${registration.lastError ? ` (${registration.lastError})` : ''}` };
        relay(conn, 'out', command.connId);
        return { ok: true };
      }
      case 'stop':
        registration.stop();
        return { ok: true };
    }
  };

  runtime.onMessage.addListener((message, sender, sendResponse) => {
    if ((message as { channel?: unknown } | null)?.channel !== P2P_CHANNEL) return undefined;
    const parsed = offscreenCommandSchema.safeParse(message);
    // Requests meant for the background (or garbage) are not ours to answer.
    if (!parsed.success) return undefined;
    if (sender.id !== runtime.id || sender.tab !== undefined) {
      sendResponse({ ok: false, error: 'refused: not from this extension' } satisfies CommandReply);
      return undefined;
    }
    handle(parsed.data).then(sendResponse, (error: unknown) => sendResponse({ ok: false, error: (error as Error).message } satisfies CommandReply));
    return true;
  });

  return { registration };
}
