/**
 * The popup (popup.html, opened as a tab of popup size), as a person uses it: found by
 * headings, labels, roles and visible words only (extension/src/ui/popup/**).
 */
import { expect } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { VIEWPORTS, type Client } from '../support/clients.ts';

const TIMEOUT = 15_000;

export interface InviteShown {
  link: string;
  code: string;
}

export class PopupPage {
  private constructor(
    readonly page: Page,
    readonly client: Client,
  ) {}

  /**
   * Brings this tab to the front before acting on it: Chromium throttles animation
   * frames in background tabs, and Playwright's actions wait for them (about 2 s each).
   */
  private async front(): Promise<void> {
    await this.page.bringToFront();
  }

  static async open(client: Client): Promise<PopupPage> {
    const popup = new PopupPage(await client.open('popup.html', VIEWPORTS.popup), client);
    await popup.heading().waitFor({ timeout: TIMEOUT });
    await client.checkScreen(popup.page, `popup: ${await popup.heading().textContent()}`);
    return popup;
  }

  /** The popup is reopened (as a person clicks the toolbar icon again): it resumes where it was. */
  async reopen(): Promise<void> {
    await this.front();
    await this.page.reload();
    await this.heading().waitFor({ timeout: TIMEOUT });
  }

  async close(): Promise<void> {
    await this.page.close().catch(() => undefined);
  }

  heading(name?: string | RegExp): Locator {
    return this.page.getByRole('heading', { level: 1, ...(name ? { name } : {}) });
  }

  async expectHeading(name: string | RegExp): Promise<void> {
    await this.front();
    await this.heading(name).waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, `popup: ${String(name)}`);
  }

  /** First run: names the device. @returns the short fingerprint the home screen then shows. */
  async setUp(name: string): Promise<string> {
    await this.front();
    await this.expectHeading('Set up this device');
    await this.page.getByLabel('Your name, as your groups will see it').fill(name);
    await this.page.getByRole('button', { name: 'Set up', exact: true }).click();
    await this.expectHeading('Conclave');
    await this.page.getByText(`This device: ${name}`).waitFor({ timeout: TIMEOUT });
    return this.fingerprint();
  }

  /** "This device's fingerprint" on the home screen: 16 characters. */
  async fingerprint(): Promise<string> {
    await this.front();
    const short = ((await this.page.getByRole('img', { name: /^This device's fingerprint:/ }).textContent({ timeout: TIMEOUT })) ?? '').replace(/\s+/g, '');
    expect(short).toMatch(/^[a-z2-7]{16}$/);
    return short;
  }

  /** Creates a group and stops on the recovery code screen; returns the code read from the screen. */
  async createGroup(name: string, policy: 'verified' | 'invite-trust'): Promise<string> {
    await this.front();
    await this.page.getByRole('button', { name: 'Create a group' }).click();
    await this.expectHeading('Create a group');
    await this.page.getByLabel('Group name').fill(name);
    await this.page.getByRole('radio', { name: policy === 'verified' ? 'Verified people only (safest)' : 'Trusted by invite link (easier)' }).check();
    await this.page.getByRole('button', { name: 'Create the group' }).click();
    await this.expectHeading(`Save the recovery code of “${name}”`);
    const code = (await this.page.getByRole('img', { name: /^Recovery code:/ }).textContent())?.replace(/\s+/g, '') ?? '';
    expect(code).toMatch(/^REC1-[0-9A-Z-]+$/);
    return code;
  }

  /** Ticks "I saved…" and continues to the home screen. */
  async confirmRecoverySaved(): Promise<void> {
    await this.front();
    await this.page.getByRole('checkbox', { name: 'I saved the recovery code somewhere safe' }).check();
    await this.page.getByRole('button', { name: 'Continue' }).click();
    await this.expectHeading('Conclave');
  }

  /** The row of a group on the home screen. */
  groupRow(name: string | RegExp): Locator {
    return this.page.getByRole('listitem').filter({ has: this.page.getByRole('heading', { level: 3, name }) });
  }

  /** Makes an invite from the home screen and reads the link and code from the screen. Stays on the invite screen. */
  async invite(groupName: string, options: { prekeyed?: boolean; role?: 'member' | 'admin' } = {}): Promise<InviteShown> {
    await this.front();
    await this.page.getByRole('button', { name: `Invite to ${groupName}` }).click();
    await this.expectHeading(`Invite to “${groupName}”`);
    if (options.role === 'admin') await this.page.getByRole('radio', { name: /^Admin/ }).check();
    const prekey = this.page.getByRole('checkbox', { name: 'Let them read at once' });
    if (options.prekeyed) await prekey.check();
    else await prekey.uncheck();
    await this.page.getByRole('button', { name: 'Make the invite' }).click();
    await this.page.getByRole('heading', { name: 'Invite link' }).waitFor({ timeout: TIMEOUT });
    const link = ((await this.page.getByText(/^conclave:join\//).textContent()) ?? '').trim();
    const code = ((await this.page.getByRole('img', { name: /^Invite code:/ }).textContent()) ?? '').replace(/\s+/g, '');
    expect(link).toMatch(/^conclave:join\/INV1-/);
    expect(code).toMatch(/^INV1-/);
    await this.page.getByRole('img', { name: /^QR code of the invite link/ }).waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'popup: the invite made');
    return { link, code };
  }

  /** "Done" on a flow's last screen: back home. */
  async done(): Promise<void> {
    await this.front();
    await this.page.getByRole('button', { name: 'Done', exact: true }).click();
    await this.expectHeading('Conclave');
  }

  /** Pastes an invite into "Join with an invite" and joins; stays on the screen that follows. */
  async join(link: string): Promise<void> {
    await this.front();
    await this.page.getByRole('button', { name: 'Join with an invite' }).click();
    await this.expectHeading('Join with an invite');
    await this.page.getByLabel('Invite link or code').fill(link);
    await this.page.getByRole('button', { name: 'Join', exact: true }).click();
    await this.heading(/^(Waiting for the group key|You are in “.+”)$/).waitFor({ timeout: 30_000 });
    await this.client.checkScreen(this.page, `popup: ${await this.heading().textContent()}`);
  }

  /** The named key-wait notice (its first line). */
  keyWaitTitle(): Locator {
    return this.page.getByRole('paragraph').filter({ hasText: /^\W*(Looking for|Connecting to|Waiting for|Key received|Stopped)/ });
  }

  /**
   * Restores a group with its recovery code; stays on "Group restored" until it names
   * the group (the status with its name can arrive a moment after the heading).
   * @returns the notice as shown.
   */
  async restore(code: string, groupName: string): Promise<string> {
    await this.front();
    await this.page.getByRole('button', { name: 'Restore a group with a recovery code' }).click();
    await this.expectHeading('Restore a group');
    await this.page.getByLabel('Recovery code').fill(code);
    await this.page.getByRole('button', { name: 'Restore', exact: true }).click();
    await this.expectHeading('Group restored');
    // "is on this device now" on a device new to the group, "is back on this device" on one that was in it.
    const notice = this.page.getByRole('status').filter({ hasText: `“${groupName}” is ` }).filter({ hasText: /is (on this device now|back on this device)\./ });
    await notice.waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'popup: Group restored');
    return ((await notice.textContent()) ?? '').trim();
  }

  /** The red alarm banner of a group on the home screen. */
  alarm(groupName: string): Locator {
    return this.page.getByRole('alert').filter({ hasText: `Danger in “${groupName}”` });
  }
}
