/**
 * In-memory stand-ins for the parts of `runtime` the transport uses, with Chrome's
 * semantics where they matter: port messages are JSON-copied and delivered
 * asynchronously in order; `disconnect()` fires `onDisconnect` on the other end only,
 * and posting on a disconnected port throws; `sendMessage` reaches every other
 * context's listeners and resolves with the first response.
 */
import type { PortLike } from '../../../src/p2p/port-channel.ts';
import type { SenderLike } from '../../../src/p2p/internal-messages.ts';

type MessageListener = (message: unknown) => void;

export interface FakePort extends PortLike {
  sender?: SenderLike;
  readonly disconnected: boolean;
}

class Events<L extends (...args: never[]) => unknown> {
  readonly listeners: L[] = [];
  addListener(listener: L): void {
    this.listeners.push(listener);
  }
}

/** Two connected ports: what one end posts, the other receives. */
export function fakePortPair(name: string, sender?: SenderLike): [FakePort, FakePort] {
  const make = () => ({ messages: new Events<MessageListener>(), disconnects: new Events<() => void>(), disconnected: false });
  const a = make();
  const b = make();
  const end = (self: ReturnType<typeof make>, other: ReturnType<typeof make>, withSender: boolean): FakePort => ({
    name,
    ...(withSender && sender ? { sender } : {}),
    get disconnected() {
      return self.disconnected;
    },
    onMessage: self.messages,
    onDisconnect: self.disconnects,
    postMessage(message) {
      if (self.disconnected) throw new Error('Attempting to use a disconnected port object');
      const copy = JSON.parse(JSON.stringify(message)) as unknown;
      setTimeout(() => {
        if (other.disconnected) return;
        for (const listener of other.messages.listeners) listener(copy);
      }, 0);
    },
    disconnect() {
      if (self.disconnected) return;
      self.disconnected = true;
      setTimeout(() => {
        if (other.disconnected) return;
        other.disconnected = true;
        for (const listener of other.disconnects.listeners) listener();
      }, 0);
    },
  });
  // The receiving end (onConnect's port) carries the sender of the connecting end.
  return [end(a, b, false), end(b, a, true)];
}

type RuntimeMessageListener = (message: unknown, sender: SenderLike, sendResponse: (response: unknown) => void) => boolean | undefined | void;

/** A bus joining several extension contexts (background, offscreen document, a page). */
export class FakeExtension {
  readonly id = 'abcdefghijklmnopabcdefghijklmnop';
  readonly contexts: FakeContext[] = [];
  offscreenOpen = false;

  getURL(path: string): string {
    return `chrome-extension://${this.id}${path.startsWith('/') ? path : `/${path}`}`;
  }

  context(url: string | undefined): FakeContext {
    const context = new FakeContext(this, url);
    this.contexts.push(context);
    return context;
  }
}

export class FakeContext {
  readonly messageListeners = new Events<RuntimeMessageListener>();
  readonly connectListeners = new Events<(port: FakePort) => void>();
  alive = true;
  readonly runtime;

  constructor(
    readonly extension: FakeExtension,
    readonly url: string | undefined,
  ) {
    this.runtime = {
      id: extension.id,
      getURL: (path: string) => extension.getURL(path),
      onMessage: this.messageListeners,
      onConnect: this.connectListeners,
      getContexts: async (_filter: unknown) => (extension.offscreenOpen ? [{ documentUrl: extension.getURL('/offscreen.html') }] : []),
      sendMessage: (message: unknown) => this.send(message, this.sender()),
      connect: ({ name }: { name: string }): FakePort => {
        const [mine, theirs] = fakePortPair(name, this.sender());
        const receivers = extension.contexts.filter((c) => c !== this && c.alive && c.connectListeners.listeners.length > 0);
        setTimeout(() => {
          for (const context of receivers) for (const listener of context.connectListeners.listeners) listener(theirs);
          if (receivers.length === 0) theirs.disconnect();
        }, 0);
        return mine;
      },
    };
  }

  sender(): SenderLike {
    return { id: this.extension.id, ...(this.url ? { url: this.url } : {}) };
  }

  /** `runtime.sendMessage` from this context, with any `sender` (tests forge them). */
  send(message: unknown, sender: SenderLike): Promise<unknown> {
    const copy = JSON.parse(JSON.stringify(message)) as unknown;
    const listeners = this.extension.contexts.filter((c) => c !== this && c.alive).flatMap((c) => c.messageListeners.listeners);
    return new Promise((resolve, reject) => {
      let answered = false;
      let waiting = 0;
      const respond = (response: unknown) => {
        if (answered) return;
        answered = true;
        resolve(response === undefined ? undefined : JSON.parse(JSON.stringify(response)));
      };
      for (const listener of listeners) {
        if (listener(copy, sender, respond) === true) waiting++;
      }
      if (!answered && waiting === 0) {
        if (listeners.length === 0) reject(new Error('Could not establish connection. Receiving end does not exist.'));
        else reject(new Error('The message port closed before a response was received.'));
      }
    });
  }
}
