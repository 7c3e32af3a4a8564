/**
 * The BUILT extension (.output/chrome-mv3) in headless Chromium, a member of a group on
 * a real storage API started here, with its side panel open. Chrome stops the service
 * worker (through the DevTools protocol, as memory pressure or DevTools "stop" would):
 * the panel's port to the worker disconnects, the panel connects again, which starts
 * the worker, and the worker reopens the live event stream — so a note another member
 * (a Node SDK device) writes afterwards shows in the open panel long before the
 * one-minute alarm could have woken the worker.
 *
 * Every wait is for a condition, with a deadline; nothing is timed.
 */
import type { AddressInfo } from 'node:net';
import type { CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupId } from '@conclave/shared/protocol';
import { build, type SignalingServer } from '../../../signaling-server/src/app.ts';
import { loadConfig } from '../../../signaling-server/src/config.ts';
import { newDevice, type Device } from '../../../storage-api/test/support/clients.ts';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import type { Request, Response } from '../../src/messages/protocol.ts';
import { builtExtension, launchWithExtension, type LoadedExtension } from './support/chromium-extension.ts';

/** Well under the alarm's minute: the worker must come back because the panel is open. */
const SHOWN_WITHIN_MS = 20_000;
const HOUR = 3_600_000;

/** One request to the background from `page`, as the pages send it (messages/client.ts). */
async function ask<T>(page: Page, request: Request): Promise<T> {
  const response = await page.evaluate(
    (req) => (globalThis as unknown as { chrome: { runtime: { sendMessage(m: unknown): Promise<unknown> } } }).chrome.runtime.sendMessage({ channel: 'conclave.request', request: req }),
    request,
  );
  const answer = response as Response<T> | undefined;
  if (!answer?.ok) throw new Error(`${request.type} failed: ${JSON.stringify(answer)}`);
  return answer.data;
}

/** The titles the panel's notes list shows. */
async function titles(panel: Page): Promise<string[]> {
  const list = panel.getByRole('list', { name: 'Notes' });
  if (!(await list.isVisible())) return [];
  return (await list.getByRole('button').allTextContents()).map((t) => t.trim());
}

describe('an open side panel when Chrome stops the service worker', () => {
  let server: TestServer;
  let signaling: SignalingServer;
  let ext: LoadedExtension;
  let ben: Device;
  let groupId: GroupId;
  let panel: Page;

  beforeAll(async () => {
    const dir = builtExtension('.output/chrome-mv3', 'npx wxt build');
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    signaling = build(loadConfig({}, { port: 0 }), { log: () => {} });
    await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
    const signalingUrl = `http://127.0.0.1:${(signaling.server.address() as AddressInfo).port}/peerjs`;
    ext = await launchWithExtension(dir);

    // Ana's browser: servers, identity and a group, through the background's requests as the popup sends them.
    const popup = await ext.context.newPage();
    await popup.goto(`chrome-extension://${ext.id}/popup.html`);
    await ask(popup, { type: 'settings.save', apiUrl: server.url, signalingUrl, iceServers: [] });
    await ask(popup, { type: 'identity.create', displayName: 'Ana' });
    ({ groupId } = await ask<{ groupId: GroupId }>(popup, { type: 'group.create', name: 'Harbour', policy: 'verified' }));
    const invite = await ask<{ code: string }>(popup, { type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
    await popup.close();

    // Ben: a Node SDK device, joined with the pre-keyed invite (it holds the key at once).
    ben = await newDevice('Ben', server.url);
    await ben.client.join(invite.code);
  }, 120_000);

  afterAll(async () => {
    await ext?.close();
    await signaling?.close();
    await server?.close();
  });

  it('comes back at once: a note written after the stop shows in the open panel', async () => {
    panel = await ext.context.newPage();
    await panel.goto(`chrome-extension://${ext.id}/sidepanel.html`);
    await panel.getByRole('heading', { level: 1, name: 'Harbour' }).waitFor({ timeout: 15_000 });

    // Live before the stop: Ben's first note reaches the open panel through the stream.
    await ben.client.writeNote(groupId, { title: 'Before the stop', body: 'One.' });
    await expect.poll(() => titles(panel), { timeout: SHOWN_WITHIN_MS }).toContain('Before the stop');

    // Chrome stops the worker (DevTools protocol, from the panel's own target). The
    // worker keeps its DevTools target across a restart, so its running status tells
    // the stop and the new start apart.
    const cdp: CDPSession = await ext.context.newCDPSession(panel);
    const statuses: string[] = [];
    cdp.on('ServiceWorker.workerVersionUpdated', (event) => {
      for (const version of event.versions) {
        if (version.scriptURL === `chrome-extension://${ext.id}/background.js` && statuses.at(-1) !== version.runningStatus) statuses.push(version.runningStatus);
      }
    });
    await cdp.send('ServiceWorker.enable');
    await expect.poll(() => statuses.at(-1), { timeout: 5_000 }).toBe('running');
    await cdp.send('ServiceWorker.stopAllWorkers');
    // Stopped, then running again: woken by the panel's port (the alarm is a minute away).
    const restarted = () => statuses.includes('stopped') && statuses.lastIndexOf('running') > statuses.indexOf('stopped');
    await expect.poll(restarted, { timeout: SHOWN_WITHIN_MS }).toBe(true);

    await ben.client.writeNote(groupId, { title: 'After the stop', body: 'Two.' });
    await expect.poll(() => titles(panel), { timeout: SHOWN_WITHIN_MS }).toContain('After the stop');
    await cdp.detach();
  }, 90_000);
});
