/**
 * The Chrome transport in real Chromium: two profiles load the transport fixture
 * (the product's offscreen document and p2p modules behind a test background,
 * built by scripts/build-test-extension.ts), register with a real signaling server
 * on 127.0.0.1, and exchange text over a WebRTC data channel that each offscreen
 * document relays to its service worker. Also: the service worker stopped and woken
 * by an incoming connection, and a closed offscreen document recreated by start().
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { browser } from 'wxt/browser';
import type { Fingerprint } from '@conclave/shared/protocol';
import { build, type SignalingServer } from '../../../signaling-server/src/app.ts';
import { loadConfig } from '../../../signaling-server/src/config.ts';
import { builtExtension, launchWithExtension, type LoadedExtension } from './support/chromium-extension.ts';

interface Hooks {
  setup(signalingUrl: string): Promise<Fingerprint>;
  start(): Promise<void>;
  stop(): Promise<void>;
  online(ids: Fingerprint[]): Promise<Fingerprint[]>;
  roundTrip(peer: Fingerprint, text: string, timeoutMs: number): Promise<string>;
  received(): string[];
}
type Chrome = typeof browser;
// The fixture's hooks, as seen from code Playwright runs inside its service worker.
declare global {
  var conclaveTest: Hooks;
}

describe('the offscreen transport in Chromium (two profiles, real signaling server)', () => {
  let signaling: SignalingServer;
  let signalingUrl: string;
  let a: LoadedExtension;
  let b: LoadedExtension;
  let fa: Fingerprint;
  let fb: Fingerprint;

  beforeAll(async () => {
    const dir = builtExtension('.output/p2p-fixture/chrome-mv3', 'npx tsx scripts/build-test-extension.ts');
    signaling = build(loadConfig({}, { port: 0 }), { log: () => {} });
    await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
    signalingUrl = `http://127.0.0.1:${(signaling.server.address() as AddressInfo).port}/peerjs`;
    [a, b] = await Promise.all([launchWithExtension(dir), launchWithExtension(dir)]);
    fa = await (await a.worker()).evaluate((url) => conclaveTest.setup(url), signalingUrl);
    fb = await (await b.worker()).evaluate((url) => conclaveTest.setup(url), signalingUrl);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await signaling?.close();
  });

  const start = async (ext: LoadedExtension) => (await ext.worker()).evaluate(() => conclaveTest.start());
  const roundTrip = async (from: LoadedExtension, to: Fingerprint, text: string) =>
    (await from.worker()).evaluate(([peer, message]) => conclaveTest.roundTrip(peer as Fingerprint, message as string, 10_000), [to, text]);

  it('both register under their fingerprints through offscreen documents', async () => {
    await Promise.all([start(a), start(b)]);
    expect(signaling.online().sort()).toEqual([fa, fb].sort());
    expect(await (await a.worker()).evaluate((ids) => conclaveTest.online(ids), [fb, fa])).toEqual([fb, fa]);
    // start() is idempotent: same registration, same offscreen document.
    await start(a);
    expect(signaling.stats.refused).toBe(0);
  });

  it('text goes both ways over a data channel the offscreen documents relay', async () => {
    expect(await roundTrip(a, fb, 'hello from A')).toBe('echo hello from A');
    expect(await roundTrip(b, fa, 'hello from B')).toBe('echo hello from B');
    expect(await (await b.worker()).evaluate(() => conclaveTest.received())).toContain('hello from A');
  });

  it('an incoming connection wakes a stopped service worker, whose onIncoming handler takes it', async () => {
    const page = b.context.pages()[0] ?? (await b.context.newPage());
    const cdp = await b.context.newCDPSession(page);
    const statuses: string[] = [];
    cdp.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
      for (const version of versions) if (version.scriptURL.startsWith(`chrome-extension://${b.id}/`)) statuses.push(version.runningStatus);
    });
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await expect.poll(() => statuses.at(-1), { timeout: 10_000 }).toBe('stopped');
    // B's offscreen document is still registered; A's connection makes it open a port, which starts B's worker.
    expect(await roundTrip(a, fb, 'wake up')).toBe('echo wake up');
    expect(statuses).toContain('running');
    // A fresh worker: it knows only what arrived after the restart.
    await expect
      .poll(async () => (await b.worker()).evaluate(() => conclaveTest.received()).catch(() => null), { timeout: 10_000 })
      .toEqual(['wake up']);
    await cdp.detach();
  });

  it('a closed offscreen document is recreated by the next start(), which registers again', async () => {
    const worker = await a.worker();
    await worker.evaluate(() => (globalThis as unknown as { chrome: Chrome }).chrome.offscreen.closeDocument());
    await expect.poll(() => signaling.online().includes(fa), { timeout: 10_000 }).toBe(false);
    await worker.evaluate(() => conclaveTest.start());
    expect(signaling.online()).toContain(fa);
    const offscreenDocuments = () => (globalThis as unknown as { chrome: Chrome }).chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] }).then((c) => c.length);
    expect(await worker.evaluate(offscreenDocuments)).toBe(1);
    expect(await roundTrip(a, fb, 'after recreation')).toBe('echo after recreation');
  });

  it('stop() unregisters', async () => {
    await (await b.worker()).evaluate(() => conclaveTest.stop());
    await expect.poll(() => signaling.online().includes(fb), { timeout: 10_000 }).toBe(false);
    expect(await (await a.worker()).evaluate((ids) => conclaveTest.online(ids), [fb])).toEqual([]);
  });
});
