/**
 * The side panel (sidepanel.html, opened as a tab of side-panel size): a group's notes
 * and members, found by roles, labels and visible words (extension/src/ui/panel/**).
 */
import { expect } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { VIEWPORTS, type Client } from '../support/clients.ts';
import { VerifyPage } from './verify.ts';

const TIMEOUT = 15_000;

export class PanelPage {
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

  /** Opens the panel; with `group`, shows that group (chosen in "Group" when the device has several). */
  static async open(client: Client, group?: string): Promise<PanelPage> {
    const panel = new PanelPage(await client.open('sidepanel.html', VIEWPORTS.panel), client);
    if (group) await panel.showGroup(group);
    return panel;
  }

  /** Chooses a group in "Group" (shown when the device is in several) and waits until it is the one shown. */
  async showGroup(name: string): Promise<void> {
    await this.front();
    await this.page.getByRole('heading', { level: 1 }).first().waitFor({ timeout: TIMEOUT });
    const chooser = this.page.getByRole('combobox', { name: 'Group' });
    if ((await this.page.getByRole('heading', { level: 1, name }).count()) === 0 && (await chooser.count()) > 0) {
      // An option reads "<name>", or "<name> — 2 new" / "— warning" / "— removed".
      const option = chooser.locator('option').filter({ hasText: new RegExp(`^${escape(name)}( —|$)`) });
      await chooser.selectOption((await option.first().getAttribute('value', { timeout: TIMEOUT }))!);
    }
    await this.expectGroup(name);
  }

  async reload(group?: string): Promise<void> {
    await this.front();
    await this.page.reload();
    if (group) await this.expectGroup(group);
  }

  async close(): Promise<void> {
    await this.page.close().catch(() => undefined);
  }

  async expectGroup(name: string): Promise<void> {
    await this.front();
    await this.page.getByRole('heading', { level: 1, name }).waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'panel: a group');
  }

  // --- notes -----------------------------------------------------------------------------

  async showNotes(): Promise<void> {
    await this.front();
    await this.page.getByRole('navigation', { name: 'Group sections' }).getByRole('button', { name: /^\W*Notes$/ }).click();
    await this.listShown();
  }

  /** The notes view is up, and done decrypting ("Decrypting the notes…" gone). */
  private async listShown(): Promise<void> {
    await this.page.getByRole('heading', { level: 2, name: 'Notes' }).waitFor({ timeout: TIMEOUT });
    await this.page.getByText('Decrypting the notes…').waitFor({ state: 'hidden', timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'panel: notes');
  }

  /** The list of readable notes. */
  noteList(): Locator {
    return this.page.getByRole('list', { name: 'Notes' });
  }

  /** Titles in the list, as shown (waits until the list has at least `atLeast` of them). */
  async noteTitles(atLeast = 0): Promise<string[]> {
    await this.front();
    const rows = this.noteList().getByRole('button');
    if (atLeast > 0) await expect.poll(() => rows.count(), { timeout: TIMEOUT }).toBeGreaterThanOrEqual(atLeast);
    return (await rows.allTextContents()).map((t) => t.trim());
  }

  /** Waits until the list shows exactly these titles (any order). */
  async expectTitles(titles: string[]): Promise<void> {
    await this.front();
    await expect
      .poll(async () => ((await this.noteList().isVisible()) ? (await this.noteList().getByRole('button').allTextContents()).map((t) => t.trim()).sort() : []), {
        timeout: TIMEOUT,
      })
      .toEqual([...titles].sort());
  }

  /** Writes a new note ("New note", Title, Text, Save) and stays on it, read back. */
  async writeNote(title: string, body: string): Promise<void> {
    await this.front();
    await this.page.getByRole('button', { name: 'New note' }).click();
    await this.page.getByRole('heading', { level: 2, name: 'New note' }).waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'panel: new note');
    await this.page.getByLabel('Title', { exact: true }).fill(title);
    await this.page.getByLabel('Text', { exact: true }).fill(body);
    await this.page.getByRole('button', { name: 'Save', exact: true }).click();
    await this.page.getByRole('heading', { level: 2, name: title }).waitFor({ timeout: TIMEOUT });
    await expect.poll(() => this.noteBody().textContent(), { timeout: TIMEOUT }).toBe(body);
    await this.client.checkScreen(this.page, 'panel: a note, saved');
  }

  /** Starts a new note and types it without saving: the editor keeps it as a draft. */
  async typeUnsavedNote(title: string, body: string): Promise<void> {
    await this.front();
    await this.page.getByRole('button', { name: 'New note' }).click();
    await this.page.getByRole('heading', { level: 2, name: 'New note' }).waitFor({ timeout: TIMEOUT });
    await this.page.getByLabel('Title', { exact: true }).fill(title);
    await this.page.getByLabel('Text', { exact: true }).fill(body);
    // The editor saves its draft after a short pause.
    await this.page.waitForTimeout(1_000);
  }

  noteBody(): Locator {
    return this.page.getByLabel('Note text', { exact: true });
  }

  /** Opens a note from the list; returns its text and the author line as shown. */
  async openNote(title: string): Promise<{ body: string; meta: string }> {
    await this.front();
    await this.noteList().getByRole('button', { name: title, exact: true }).click();
    await this.page.getByRole('heading', { level: 2, name: title }).waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'panel: a note');
    const body = (await this.noteBody().textContent()) ?? '';
    const meta = ((await this.page.getByRole('article').locator('.note-meta').textContent()) ?? '').replace(/\s+/g, ' ').trim();
    return { body, meta };
  }

  /** Opens a note that cannot be read, and returns the error shown (title, message). */
  async openUnreadable(title: string): Promise<string> {
    await this.front();
    await this.noteList().getByRole('button', { name: title, exact: true }).click();
    const alert = this.page.getByRole('alert').filter({ hasText: 'This note cannot be read' });
    await alert.waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'panel: a note that cannot be read');
    return ((await alert.textContent()) ?? '').replace(/\s+/g, ' ').trim();
  }

  async backToNotes(): Promise<void> {
    await this.front();
    await this.page.getByRole('button', { name: 'All notes' }).click();
    await this.listShown();
  }

  // --- members ---------------------------------------------------------------------------

  async showMembers(): Promise<void> {
    await this.front();
    await this.page.getByRole('navigation', { name: 'Group sections' }).getByRole('button', { name: /^\W*Members/ }).click();
    await this.page.getByRole('heading', { level: 2, name: 'Members' }).waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'panel: members');
  }

  /** The members list (labelled by its "Members" heading). */
  memberList(): Locator {
    return this.page.getByRole('list', { name: 'Members', exact: true });
  }

  /** One member's row, by the name shown ("Ana", or "Ana (you)" for this device). */
  member(name: string): Locator {
    return this.memberList()
      .getByRole('listitem')
      .filter({ has: this.page.getByText(new RegExp(`^${escape(name)}( \\(you\\))?$`)) });
  }

  /**
   * A member found by the short fingerprint their own device shows ("This device's
   * fingerprint"): how a person tells apart members whose names this device cannot
   * read yet ("Unnamed member").
   */
  memberWithFingerprint(short: string): Locator {
    const compact = short.replace(/\s+/g, '');
    const spelled = compact.match(/.{1,4}/g)!.map((group) => [...group].join(' ')).join(', ');
    return this.memberList()
      .getByRole('listitem')
      .filter({ has: this.page.getByRole('img', { name: new RegExp(`fingerprint: ${escape(spelled)}$`) }) });
  }

  /** The text of each person's row (the recovery key is not a person and not listed). */
  async memberLines(): Promise<string[]> {
    await this.front();
    await this.memberList().waitFor({ timeout: TIMEOUT });
    const rows = this.memberList().getByRole('listitem');
    const lines: string[] = [];
    for (const row of await rows.all()) lines.push(((await row.textContent()) ?? '').replace(/\s+/g, ' ').trim());
    return lines;
  }

  /** A member's trust badge word as shown ("Verified", "Unverified", …). */
  async trustOf(name: string): Promise<string> {
    await this.front();
    return ((await this.member(name).getByRole('img', { name: new RegExp(`^${escape(name)}: `) }).textContent()) ?? '').trim();
  }

  /** "Verify <name>": the verification tab opens. */
  async openVerify(name: string): Promise<VerifyPage> {
    await this.front();
    await this.showMembers();
    const tab = await this.client.nextTab(() => this.page.getByRole('button', { name: `Verify ${name}` }).click());
    return VerifyPage.attach(tab, name, this.client);
  }

  /** "Verify" in a member's row (found by name or fingerprint): the verification tab opens. */
  async openVerifyIn(row: Locator): Promise<VerifyPage> {
    await this.front();
    const name = ((await row.getByRole('button', { name: /^Verify / }).getAttribute('aria-label')) ?? '').replace(/^Verify /, '');
    const tab = await this.client.nextTab(() => row.getByRole('button', { name: /^Verify / }).click());
    return VerifyPage.attach(tab, name, this.client);
  }

  async makeAdmin(name: string): Promise<void> {
    await this.front();
    await this.showMembers();
    await this.page.getByRole('button', { name: `Make admin: ${name}` }).click();
    await this.member(name).getByText('Admin', { exact: true }).waitFor({ timeout: TIMEOUT });
  }

  /** Removes a member through the confirmation dialog; returns the outcome shown. */
  async remove(name: string): Promise<string> {
    await this.front();
    await this.showMembers();
    await this.page.getByRole('button', { name: `Remove ${name}…` }).click();
    const dialog = this.page.getByRole('dialog', { name: new RegExp(`^Remove ${escape(name)} from “.+”\\?$`) });
    await dialog.waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'panel: remove dialog');
    await dialog.getByRole('button', { name: 'Remove and start a new key' }).click();
    // The paragraph on screen (the page's live region says the same words, for screen readers).
    const outcome = this.page.getByRole('paragraph').filter({ hasText: `${name} was removed. New notes use a new key they cannot read.` });
    await outcome.waitFor({ timeout: 30_000 });
    // Without the icon before the words ("✓ ").
    return ((await outcome.textContent()) ?? '').replace(/^\W+/, '').trim();
  }

  /** Opens the leave dialog; returns it (its title and words), without confirming. */
  async startLeaving(): Promise<Locator> {
    await this.front();
    await this.showMembers();
    await this.page.getByRole('button', { name: 'Leave group…' }).click();
    const dialog = this.page.getByRole('dialog');
    await dialog.waitFor({ timeout: TIMEOUT });
    await this.client.checkScreen(this.page, 'panel: leave dialog');
    return dialog;
  }

  /** Confirms the open leave dialog ("Leave group" or, for the last member, "Leave anyway"). */
  async confirmLeaving(dialog: Locator): Promise<void> {
    await this.front();
    await dialog.getByRole('button', { name: /^Leave (group|anyway)$/ }).click();
    await dialog.waitFor({ state: 'hidden', timeout: 30_000 });
  }

  // --- banners ---------------------------------------------------------------------------

  removedBanner(group: string): Locator {
    return this.page.getByRole('status').filter({ hasText: `Removed from “${group}”` });
  }

  alarmBanner(group: string): Locator {
    return this.page.getByRole('alert').filter({ hasText: `Warning about “${group}”: its history does not add up` });
  }

  waitingBanner(): Locator {
    return this.page.getByRole('status').filter({ hasText: 'Waiting for the group’s key' });
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
