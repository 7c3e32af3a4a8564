/**
 * The service worker: wires the background service (src/background) to the browser.
 * Everything is registered synchronously at start, so the event that woke the worker
 * (a page's request, the sync alarm, a peer's connection) finds its listener.
 * Nothing important lives only in memory here: the worker may be stopped at any time.
 * While the live event stream is open, its messages (and the client's 20 s heartbeat)
 * keep the worker running (Chrome ≥ 116); if it is stopped anyway, the next alarm, page
 * request or peer connection starts it again, and its first tick opens the stream. An
 * open page notices at once (its port to the worker disconnects) and connects again,
 * which starts the worker (page-ports.ts).
 */
import { browser } from 'wxt/browser';
import { defineBackground } from 'wxt/utils/define-background';
import { toolbarBadge } from '../src/background/badge.ts';
import { createBackground } from '../src/background/background.ts';
import { listenForPages } from '../src/background/page-ports.ts';
import { loadSettings } from '../src/background/settings.ts';
import { loadIdentity } from '../src/db/identity.ts';
import { openDb } from '../src/db/schema.ts';
import { MESSAGE_CHANNEL } from '../src/messages/client.ts';
import type { ChangedEvent } from '../src/messages/protocol.ts';
import { createPeerTransport } from '../src/p2p/create-transport.ts';

const SYNC_ALARM = 'conclave-sync';

/** No page is open to hear a broadcast: that is not a failure. */
function isNoReceiver(error: unknown): boolean {
  return /receiving end does not exist|could not establish connection/i.test((error as Error)?.message ?? '');
}

export default defineBackground(() => {
  const db = openDb();
  const transport = createPeerTransport({
    identity: async () => (await loadIdentity(db))?.identity ?? null,
    settings: () => loadSettings(db),
  });
  const background = createBackground({
    db,
    transport,
    // Chrome (MV3) has browser.action; Firefox's MV2 build has browser.browserAction.
    badge: toolbarBadge(browser),
    broadcast: (event: ChangedEvent) => {
      browser.runtime.sendMessage(event).catch((error: unknown) => {
        if (!isNoReceiver(error)) console.warn('conclave: telling the pages failed', (error as Error)?.name);
      });
    },
    // The storage API's live events, over the worker's own WebSocket: opened by the first
    // tick below (and again by each start of the worker); the alarm stays as the backstop.
    live: {},
  });

  // Only this extension's own pages, and only messages on our channel. The answer goes
  // through sendResponse (and `return true`): Chrome does not take a returned promise.
  browser.runtime.onMessage.addListener((message: unknown, sender, sendResponse) => {
    if (typeof message !== 'object' || message === null || (message as { channel?: unknown }).channel !== MESSAGE_CHANNEL) return undefined;
    if (sender.id !== browser.runtime.id) return undefined;
    void background.handle((message as { request?: unknown }).request).then(sendResponse);
    return true;
  });

  // A page's port (and the one that woke this worker): the live stream must be open.
  listenForPages(browser.runtime, () => background.wake());

  browser.alarms.onAlarm.addListener((alarm) => {
    if (alarm.name === SYNC_ALARM) void background.tick();
  });
  void browser.alarms.create(SYNC_ALARM, { periodInMinutes: 1 });
  void background.tick();
});
