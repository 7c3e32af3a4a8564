/**
 * A page's port to the background (ui/components/background-port.ts), on the fake
 * runtime bus (ports with Chrome's semantics; WXT's fake browser has no ports) and on
 * WXT's fake `browser` for the default runtime: the page holds one port while anything
 * listens; when the worker stops, the page connects again (which starts the worker)
 * and its listeners re-ask; retries are bounded; the last listener leaving closes it.
 *
 * Every wait is for a condition, with a deadline; nothing is timed.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { browser } from 'wxt/browser';
import { listenForPages } from '../../src/background/page-ports.ts';
import { PAGE_PORT } from '../../src/messages/page-port.ts';
import { BackgroundPort, type PortRuntime } from '../../src/ui/components/background-port.ts';
import { FakeExtension, type FakeContext, type FakePort } from '../platform/support/fake-runtime.ts';

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A service worker on the bus: its page ports, and `stop()` as Chrome stops it (its ports disconnect). */
function worker(ext: FakeExtension): { context: FakeContext; ports: FakePort[]; pages: number; stop(): void } {
  const context = ext.context(ext.getURL('/background.js'));
  const state = {
    context,
    ports: [] as FakePort[],
    pages: 0,
    stop() {
      context.alive = false;
      context.connectListeners.listeners.length = 0;
      for (const port of state.ports) port.disconnect();
    },
  };
  context.runtime.onConnect.addListener((port) => void (port.name === PAGE_PORT && state.ports.push(port)));
  listenForPages(context.runtime, () => state.pages++);
  return state;
}

const DELAYS = [10, 20, 40];
const ports: BackgroundPort[] = [];
function pagePort(runtime: PortRuntime, delaysMs = DELAYS): BackgroundPort {
  const port = new BackgroundPort({ runtime, delaysMs, stableMs: 60_000 });
  ports.push(port);
  return port;
}

afterEach(() => {
  vi.restoreAllMocks();
  ports.length = 0;
});

describe("a page's port to the background", () => {
  it('connects once for all listeners, and no re-ask while the worker runs', async () => {
    const ext = new FakeExtension();
    const bg = worker(ext);
    const page = ext.context(ext.getURL('/sidepanel.html'));
    const port = pagePort(page.runtime);
    const a = vi.fn();
    const b = vi.fn();
    const leaveA = port.onBack(a);
    port.onBack(b);
    await until('the background holds the page port', () => bg.pages === 1);
    expect(bg.ports).toHaveLength(1);
    expect(a).not.toHaveBeenCalled();
    expect(b).not.toHaveBeenCalled();
    leaveA();
    expect(port.connected).toBe(true);
  });

  it('after the worker stops, connects again (starting it) and its listeners re-ask', async () => {
    const ext = new FakeExtension();
    const first = worker(ext);
    const page = ext.context(ext.getURL('/sidepanel.html'));
    const port = pagePort(page.runtime);
    const reask = vi.fn();
    port.onBack(reask);
    await until('the first worker holds the port', () => first.pages === 1);

    // Chrome stops the worker; a new one starts when the page connects again.
    first.stop();
    const second = worker(ext);
    await until('the new worker was woken by the page port', () => second.pages === 1);
    await until('the page re-asked', () => reask.mock.calls.length === 1);
    expect(port.connected).toBe(true);
    expect(first.pages).toBe(1);
  });

  it('keeps trying while the worker is not back yet, then stops after the last delay', async () => {
    const ext = new FakeExtension();
    const first = worker(ext);
    const page = ext.context(ext.getURL('/popup.html'));
    const connect = vi.spyOn(page.runtime, 'connect');
    const port = pagePort(page.runtime);
    const reask = vi.fn();
    port.onBack(reask);
    await until('connected', () => first.pages === 1);
    first.stop();
    // No worker comes back (the extension was removed): one try per delay, then no more.
    await until('every retry was made', () => connect.mock.calls.length === 1 + DELAYS.length);
    await until('the last one failed too', () => !port.connected);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(connect).toHaveBeenCalledTimes(1 + DELAYS.length);
  });

  it('a worker that comes back on a later try is reached, and the page re-asks', async () => {
    const ext = new FakeExtension();
    const first = worker(ext);
    const page = ext.context(ext.getURL('/popup.html'));
    const connect = vi.spyOn(page.runtime, 'connect');
    const port = pagePort(page.runtime, [10, 20, 40, 80, 160]);
    const reask = vi.fn();
    port.onBack(reask);
    await until('connected', () => first.pages === 1);
    first.stop();
    await until('two tries failed', () => connect.mock.calls.length >= 3);
    const second = worker(ext);
    await until('the new worker holds the port', () => second.pages === 1);
    await until('the page re-asked and holds the port', () => port.connected && reask.mock.calls.length >= 1);
  });

  it('the last listener leaving closes the port, and nothing reconnects', async () => {
    const ext = new FakeExtension();
    const bg = worker(ext);
    const page = ext.context(ext.getURL('/options.html'));
    const connect = vi.spyOn(page.runtime, 'connect');
    const port = pagePort(page.runtime);
    const leave = port.onBack(vi.fn());
    await until('connected', () => bg.pages === 1);
    leave();
    await until('the background saw the port close', () => bg.ports[0]!.disconnected);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(connect).toHaveBeenCalledTimes(1);
    expect(port.connected).toBe(false);
  });

  it("uses WXT's browser.runtime by default, with the page port's name", async () => {
    const ext = new FakeExtension();
    const bg = worker(ext);
    const page = ext.context(ext.getURL('/verify.html'));
    const connect = vi.spyOn(browser.runtime, 'connect').mockImplementation(page.runtime.connect as never);
    const port = new BackgroundPort({ delaysMs: DELAYS });
    const leave = port.onBack(vi.fn());
    await until('connected through browser.runtime', () => bg.pages === 1);
    expect(connect).toHaveBeenCalledWith({ name: PAGE_PORT });
    leave();
  });

  it('a page without ports (rendered outside the extension) connects nothing and fails nothing', () => {
    const port = pagePort({});
    const leave = port.onBack(vi.fn());
    expect(port.connected).toBe(false);
    leave();
  });
});
