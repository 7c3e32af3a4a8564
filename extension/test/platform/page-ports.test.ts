/**
 * The background's listener for pages' ports (background/page-ports.ts) next to the
 * Chrome p2p transport (offscreen-transport.ts) on one fake runtime bus, as in the
 * worker: a page's port wakes the background and nothing else; a p2p data port from
 * the offscreen document still reaches the transport, untouched; a page port from
 * another extension is cut.
 */
import { describe, expect, it, vi } from 'vitest';
import type { MessageChannel } from '@conclave/shared/p2p';
import { listenForPages } from '../../src/background/page-ports.ts';
import { PAGE_PORT } from '../../src/messages/page-port.ts';
import { portName } from '../../src/p2p/internal-messages.ts';
import { createOffscreenTransport } from '../../src/p2p/offscreen-transport.ts';
import { FakeExtension, fakePortPair } from './support/fake-runtime.ts';

function worker() {
  const ext = new FakeExtension();
  const background = ext.context(ext.getURL('/background.js'));
  const transport = createOffscreenTransport(
    { identity: async () => null, settings: async () => ({}) as never },
    { runtime: background.runtime, offscreen: { createDocument: async () => undefined, closeDocument: async () => undefined } },
  );
  const onPage = vi.fn();
  const pages = listenForPages(background.runtime, onPage);
  const incoming: MessageChannel[] = [];
  transport.onIncoming((channel) => incoming.push(channel));
  return { ext, background, onPage, pages, incoming };
}

describe("the background's page ports beside the p2p ports", () => {
  it('a page port wakes the background, and is held until the page goes', async () => {
    const { ext, onPage, pages, incoming } = worker();
    const panel = ext.context(ext.getURL('/sidepanel.html'));
    const port = panel.runtime.connect({ name: PAGE_PORT });
    await vi.waitFor(() => expect(onPage).toHaveBeenCalledTimes(1));
    expect(pages.open()).toBe(1);
    expect(port.disconnected).toBe(false);
    expect(incoming).toHaveLength(0);
    port.disconnect();
    await vi.waitFor(() => expect(pages.open()).toBe(0));
  });

  it("a p2p data port from the offscreen document reaches the transport, and does not wake it as a page", async () => {
    const { ext, onPage, pages, incoming } = worker();
    const offscreen = ext.context(ext.getURL('/offscreen.html'));
    const panel = ext.context(ext.getURL('/sidepanel.html'));
    const pagePort = panel.runtime.connect({ name: PAGE_PORT });
    const data = offscreen.runtime.connect({ name: portName('in', '0123456789abcdef') });
    await vi.waitFor(() => expect(incoming).toHaveLength(1));
    await vi.waitFor(() => expect(onPage).toHaveBeenCalledTimes(1));
    expect(pages.open()).toBe(1);
    // The data connection carries its text both ways, and neither port was cut.
    const got: string[] = [];
    incoming[0]!.onMessage((text) => got.push(String(text)));
    data.postMessage('hello');
    await vi.waitFor(() => expect(got).toEqual(['hello']));
    expect(data.disconnected).toBe(false);
    expect(pagePort.disconnected).toBe(false);
    // Closing the page port leaves the data connection open.
    pagePort.disconnect();
    await vi.waitFor(() => expect(pages.open()).toBe(0));
    expect(data.disconnected).toBe(false);
  });

  it('a page port from another extension is cut, and wakes nothing', async () => {
    const { background, onPage, pages } = worker();
    const [theirs, ours] = fakePortPair(PAGE_PORT, { id: 'another-extension', url: 'chrome-extension://another-extension/popup.html' });
    for (const listener of background.connectListeners.listeners) listener(ours);
    await vi.waitFor(() => expect(theirs.disconnected).toBe(true));
    expect(onPage).not.toHaveBeenCalled();
    expect(pages.open()).toBe(0);
  });
});
