/**
 * The verification tab (verify.html?group=…&member=…), found by roles, labels and
 * visible words (extension/src/ui/verify/**): the safety number both people compare,
 * this device's QR code, "Choose an image" to scan theirs, and the typed number.
 */
import { expect } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import type { Client } from '../support/clients.ts';

const TIMEOUT = 15_000;

export class VerifyPage {
  private constructor(
    readonly page: Page,
    /** The member being verified, as this device named them when the tab opened. */
    readonly peer: string,
    private readonly client: Client | null,
  ) {}

  /**
   * Brings this tab to the front before acting on it: Chromium throttles animation
   * frames in background tabs, and Playwright's actions wait for them (about 2 s each).
   */
  private async front(): Promise<void> {
    await this.page.bringToFront();
  }

  /** With `client`, each screen of the tab is checked with axe-core when that client audits (e2e/support/axe.ts). */
  static async attach(page: Page, peer: string, client: Client | null = null): Promise<VerifyPage> {
    const verify = new VerifyPage(page, peer, client);
    // The name can change while the tab is open (an "Unnamed member" whose profile arrives).
    await page.getByRole('heading', { level: 1, name: /^Verify / }).waitFor({ timeout: TIMEOUT });
    await verify.safetyNumberList().waitFor({ timeout: TIMEOUT });
    await client?.checkScreen(page, 'verify');
    return verify;
  }

  async close(): Promise<void> {
    await this.page.close().catch(() => undefined);
  }

  safetyNumberList(): Locator {
    return this.page.getByRole('list', { name: /^Safety number with / });
  }

  /** The 60 digits as 12 groups, read from each group's accessible name ("1 2 3 4 5"). */
  async safetyNumber(): Promise<string[]> {
    await this.front();
    const items = this.safetyNumberList().getByRole('listitem');
    await expect.poll(() => items.count(), { timeout: TIMEOUT }).toBe(12);
    const groups: string[] = [];
    for (const item of await items.all()) groups.push(((await item.getAttribute('aria-label')) ?? '').replace(/\s+/g, ''));
    return groups;
  }

  /** This device's QR code for the peer. */
  myCode(): Locator {
    return this.page.getByRole('img', { name: /^Your verification code for .+, to scan with Conclave on their device$/ });
  }

  /** Chooses a picture of the peer's QR code ("Choose an image"). */
  async scanImage(file: string): Promise<void> {
    await this.front();
    await this.page.getByLabel('Choose an image').setInputFiles(file);
  }

  async numbersMatch(): Promise<void> {
    await this.front();
    await this.page.getByRole('button', { name: 'The numbers match' }).click();
  }

  async typeNumber(digits: string): Promise<void> {
    await this.front();
    await this.page.getByLabel('Their safety number').fill(digits);
    await this.page.getByRole('button', { name: 'Check the typed number' }).click();
  }

  /** The "Verified" notice of this tab. */
  verifiedNotice(): Locator {
    return this.page.getByRole('status').filter({ hasText: /Verified: .+’s key is the one you checked\./ });
  }

  async expectVerified(timeout = TIMEOUT): Promise<void> {
    await this.front();
    await this.verifiedNotice().waitFor({ timeout });
    await this.page.getByRole('img', { name: /^.+: Verified — / }).first().waitFor({ timeout });
    await this.client?.checkScreen(this.page, 'verify: verified');
  }

  /** The key wait this verification started, as the tab says it ("Key received from Ana."). */
  keyNews(): Locator {
    return this.page.getByText(/^\W*(Key received from .+\.|Key received through the mailbox\.|Waiting for .+…|Looking for .+…|Connecting to .+…)$/);
  }

  /** The error shown when a check failed. */
  failure(): Locator {
    return this.page.getByRole('alert').filter({ hasText: / is not verified/ });
  }
}
