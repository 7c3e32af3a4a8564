/**
 * Smoke test of the BUILT extension (.output/chrome-mv3, built by the test command
 * before vitest) in headless Chromium: it loads, its service worker starts, the
 * popup renders, and — driven through the popup page as a person would — the device
 * gets an identity, its settings point at a signaling server started here on
 * 127.0.0.1, and the background's transport registers it there through the
 * offscreen document (two profiles, each visible to the other's presence query).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fingerprint } from '@conclave/shared/protocol';
import { build, type SignalingServer } from '../../../signaling-server/src/app.ts';
import { loadConfig } from '../../../signaling-server/src/config.ts';
import type { Request, Response } from '../../src/messages/protocol.ts';
import type { IdentityView, Settings } from '../../src/messages/views.ts';
import { builtExtension, launchWithExtension, type LoadedExtension } from './support/chromium-extension.ts';

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

describe('the built extension in Chromium', () => {
  let dir: string;
  let ext: LoadedExtension;

  beforeAll(async () => {
    dir = builtExtension('.output/chrome-mv3', 'npm run build:extension');
    ext = await launchWithExtension(dir);
  }, 60_000);

  afterAll(async () => {
    await ext?.close();
  });

  it('has the manifest and pages the transport needs', () => {
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { manifest_version: number; permissions: string[]; background: { service_worker: string } };
    expect(manifest.manifest_version).toBe(3);
    expect(manifest.permissions).toEqual(expect.arrayContaining(['offscreen', 'storage', 'alarms']));
    expect(existsSync(path.join(dir, manifest.background.service_worker))).toBe(true);
    expect(existsSync(path.join(dir, 'offscreen.html'))).toBe(true);
  });

  it('starts its service worker; the extension id is the worker URL\'s host', async () => {
    const worker = await ext.worker();
    expect(worker.url()).toBe(`chrome-extension://${ext.id}/background.js`);
    expect(ext.id).toMatch(/^[a-p]{32}$/);
  });

  it('renders the popup with a heading and no uncaught error', async () => {
    const page = await ext.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`chrome-extension://${ext.id}/popup.html`);
    const heading = page.locator('h1, h2, [role="heading"]').first();
    await heading.waitFor({ state: 'visible', timeout: 10_000 });
    expect((await heading.textContent())?.trim()).toBeTruthy();
    expect(errors).toEqual([]);
    await page.close();
  });

  describe('registration with a signaling server through the offscreen document', () => {
    let signaling: SignalingServer;
    let signalingUrl: string;
    let other: LoadedExtension;

    beforeAll(async () => {
      signaling = build(loadConfig({}, { port: 0 }), { log: () => {} });
      await new Promise<void>((resolve) => signaling.server.listen(0, '127.0.0.1', resolve));
      signalingUrl = `http://127.0.0.1:${(signaling.server.address() as AddressInfo).port}/peerjs`;
      other = await launchWithExtension(dir);
    }, 60_000);

    afterAll(async () => {
      await other?.close();
      await signaling?.close();
    });

    /** Settings first (no identity yet: nothing registers), then the identity, which starts the transport. */
    async function register(loaded: LoadedExtension, name: string): Promise<Fingerprint> {
      const page = await loaded.context.newPage();
      await page.goto(`chrome-extension://${loaded.id}/popup.html`);
      const settings = await ask<Settings>(page, { type: 'settings.get' });
      await ask<Settings>(page, { type: 'settings.save', apiUrl: settings.apiUrl, signalingUrl, iceServers: [] });
      const identity = await ask<IdentityView>(page, { type: 'identity.create', displayName: name });
      await page.close();
      return identity.fingerprint;
    }

    it('each profile registers under its fingerprint, and sees the other online', async () => {
      const [fa, fb] = await Promise.all([register(ext, 'Ana'), register(other, 'Ben')]);
      await expect.poll(() => signaling.online().sort(), { timeout: 15_000 }).toEqual([fa, fb].sort());
      expect(signaling.stats.refused).toBe(0);
      const worker = await ext.worker();
      const offscreenDocuments = await worker.evaluate(() =>
        (globalThis as unknown as { chrome: { runtime: { getContexts(f: unknown): Promise<unknown[]> } } }).chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] }).then((c) => c.length),
      );
      expect(offscreenDocuments).toBe(1);
      // Presence is answered only to a registered peer with a presence token (the
      // extension's own presence requests are in chromium-transport.node.test.ts).
      const response = await fetch(`${signalingUrl}/presence?ids=${fb}`);
      expect(response.status).toBe(401);
    });
  });
});
