/**
 * The options page's devices area, as a person uses it: "Link to my identity" on a new
 * device (its QR code and typable code), "Link a new device" on one already set up
 * (choose a picture of the QR code, or type the code; compare the fingerprint; the
 * report per group), and the list of devices with "Remove this device…".
 */
import { expect } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import type { Client } from '../support/clients.ts';

const TIMEOUT = 30_000;

/** The characters of a fingerprint shown in groups ("abcd efgh …" → "abcdefgh…"). */
function compact(text: string | null): string {
  return (text ?? '').replace(/\s+/g, '');
}

export class DevicesPage {
  private constructor(readonly page: Page) {}

  static async open(client: Client): Promise<DevicesPage> {
    const page = await client.open('options.html');
    await page.getByRole('heading', { level: 1 }).waitFor({ timeout: TIMEOUT });
    return new DevicesPage(page);
  }

  private async front(): Promise<void> {
    await this.page.bringToFront();
  }

  // --- the new device ---------------------------------------------------------------

  /** "Link to my identity": shows the QR code and the code, and waits. */
  async offerLink(): Promise<void> {
    await this.front();
    await this.page.getByTestId('link-to-identity').getByRole('button', { name: 'Link to my identity' }).click();
    await this.page.getByTestId('link-offer').waitFor({ timeout: TIMEOUT });
  }

  linkQr(): Locator {
    return this.page.getByRole('img', { name: 'QR code to link this device to your identity' });
  }

  /** The typable code as shown (groups joined). */
  async linkCode(): Promise<string> {
    return compact(await this.page.getByTestId('link-code').textContent());
  }

  /** This device's fingerprint as the waiting screen shows it (short form, no spaces). */
  async waitingFingerprint(): Promise<string> {
    return compact(await this.page.getByTestId('link-offer').getByRole('img', { name: /^This device's fingerprint:/ }).textContent());
  }

  /** Waits for "This device is now linked to <name>", and returns each group line shown. */
  async expectLinked(name: string): Promise<string[]> {
    const linked = this.page.getByTestId('link-linked');
    await linked.waitFor({ timeout: 60_000 });
    expect(await linked.textContent()).toContain(`This device is now linked to ${name}`);
    return (await linked.getByTestId('linked-group').allTextContents()).map((t) => t.trim());
  }

  /** "Done" under "This device is now linked…": the page offers linking further devices from here. */
  async finishLinked(): Promise<void> {
    await this.front();
    await this.page.getByTestId('link-linked').getByRole('button', { name: 'Done', exact: true }).click();
    await this.linkNew().waitFor({ timeout: TIMEOUT });
  }

  // --- the existing device ------------------------------------------------------------

  private linkNew(): Locator {
    return this.page.getByTestId('link-new-device');
  }

  /** Chooses a picture of the new device's QR code. */
  async scanImage(file: string): Promise<void> {
    await this.front();
    await this.linkNew().getByLabel('Choose an image').setInputFiles(file);
  }

  async typeCode(code: string): Promise<void> {
    await this.front();
    await this.linkNew().getByLabel('Or type the code the new device shows').fill(code);
    await this.linkNew().getByRole('button', { name: 'Link the new device' }).click();
  }

  /** The fingerprint the confirmation step shows for the new device (short form). */
  async fingerprintToConfirm(): Promise<string> {
    const step = this.page.getByTestId('link-confirm');
    await step.waitFor({ timeout: TIMEOUT });
    return compact(await step.getByRole('img', { name: /^The new device's fingerprint:/ }).textContent());
  }

  async confirmLink(): Promise<void> {
    await this.page.getByRole('button', { name: 'Yes, the fingerprints match: link it' }).click();
  }

  /** Waits for the report and returns each group line. */
  async expectLinkReport(): Promise<string[]> {
    const report = this.page.getByTestId('link-report');
    await report.waitFor({ timeout: 60_000 });
    return (await report.getByTestId('linked-group').allTextContents()).map((t) => t.trim());
  }

  async finishLink(): Promise<void> {
    await this.page.getByTestId('link-report').getByRole('button', { name: 'Done', exact: true }).click();
    await this.linkNew().getByLabel('Or type the code the new device shows').waitFor({ timeout: TIMEOUT });
  }

  // --- the device list ----------------------------------------------------------------

  /** Each current device's row text; `this` marks this device's. */
  async devices(): Promise<Array<{ text: string; thisDevice: boolean }>> {
    const rows = this.page.getByTestId('device-row');
    await rows.first().waitFor({ timeout: TIMEOUT });
    const out: Array<{ text: string; thisDevice: boolean }> = [];
    for (const row of await rows.all()) out.push({ text: ((await row.textContent()) ?? '').trim(), thisDevice: (await row.getAttribute('data-this-device')) === 'true' });
    return out;
  }

  /** Removes the device whose short fingerprint starts with `short`, confirming; returns the per-group report lines. */
  async removeDevice(short: string): Promise<string[]> {
    await this.front();
    const spaced = compact(short).match(/.{1,4}/g)!.join(' ');
    await this.page.getByRole('button', { name: `Remove this device (${spaced})…` }).click();
    await this.page.getByRole('button', { name: "Remove and change every group's key" }).click();
    const report = this.page.getByTestId('device-removed-report');
    await report.waitFor({ timeout: 60_000 });
    return (await report.getByRole('listitem').allTextContents()).map((t) => t.trim());
  }
}
