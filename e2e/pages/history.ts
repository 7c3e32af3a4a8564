/**
 * A note's history and the group's export in the side panel (NoteHistory.tsx,
 * ExportNotes.tsx), found by roles, labels and visible words, on a PanelPage's tab.
 */
import { readFile } from 'node:fs/promises';
import { strFromU8, unzipSync } from 'fflate';
import type { Locator, Page } from 'playwright-core';
import type { PanelPage } from './panel.ts';

const TIMEOUT = 15_000;

export interface VersionRow {
  /** "Version 2: Tide tables" */
  title: string;
  /** The line under it: author, trust, time, key generation. */
  meta: string;
}

export class HistoryPage {
  constructor(private readonly panel: PanelPage) {}

  private get page(): Page {
    return this.panel.page;
  }

  /** Edits the open note ("Edit", new text, "Save") and waits until it is read back. */
  async editOpenNote(body: string): Promise<void> {
    await this.page.bringToFront();
    await this.page.getByRole('button', { name: 'Edit', exact: true }).click();
    await this.page.getByRole('heading', { level: 2, name: 'Edit note' }).waitFor({ timeout: TIMEOUT });
    await this.page.getByLabel('Text', { exact: true }).fill(body);
    await this.page.getByRole('button', { name: 'Save', exact: true }).click();
    await this.page.getByLabel('Note text', { exact: true }).filter({ hasText: body }).waitFor({ timeout: TIMEOUT });
  }

  /** "History" on the open note; waits for the list of versions. */
  async open(): Promise<void> {
    await this.page.bringToFront();
    await this.page.getByRole('button', { name: /^History/ }).click();
    await this.versions().waitFor({ timeout: 30_000 });
    await this.panel.client.checkScreen(this.page, 'panel: a note\'s history');
  }

  versions(): Locator {
    return this.page.getByRole('list', { name: 'Versions' });
  }

  /** The versions as listed, newest first. */
  async rows(): Promise<VersionRow[]> {
    const rows: VersionRow[] = [];
    for (const item of await this.versions().getByRole('listitem').all()) {
      const title = ((await item.getByRole('button').textContent()) ?? '').trim();
      const meta = ((await item.locator('.note-meta').textContent()) ?? '').replace(/\s+/g, ' ').trim();
      rows.push({ title, meta });
    }
    return rows;
  }

  /** Opens one version; returns its text as shown. */
  async openVersion(version: number): Promise<string> {
    await this.page.bringToFront();
    await this.versions().getByRole('button', { name: new RegExp(`^Version ${version}:`) }).click();
    await this.page.getByRole('heading', { level: 2, name: new RegExp(`^Version ${version}:`) }).waitFor({ timeout: TIMEOUT });
    await this.panel.client.checkScreen(this.page, 'panel: one version of a note');
    return (await this.page.getByLabel(`Text of version ${version}`).textContent()) ?? '';
  }

  /** "Restore this version…", confirmed in the dialog; waits until the note is shown again. */
  async restoreOpenVersion(): Promise<void> {
    await this.page.bringToFront();
    await this.page.getByRole('button', { name: 'Restore this version…' }).click();
    const dialog = this.page.getByRole('dialog', { name: /^Restore version \d+\?$/ });
    await dialog.waitFor({ timeout: TIMEOUT });
    await this.panel.client.checkScreen(this.page, 'panel: restore dialog');
    await dialog.getByRole('button', { name: 'Restore', exact: true }).click();
    await this.page.getByLabel('Note text', { exact: true }).waitFor({ timeout: 30_000 });
  }

  /**
   * "Export notes (zip)" on the notes list: the file the browser downloads, unzipped.
   * @returns its name, the URL the browser downloaded it from, and each file's text by name.
   */
  async exportZip(): Promise<{ name: string; url: string; files: Record<string, string> }> {
    await this.page.bringToFront();
    const [download] = await Promise.all([this.page.waitForEvent('download', { timeout: 30_000 }), this.page.getByRole('button', { name: 'Export notes (zip)' }).click()]);
    const bytes = await readFile((await download.path())!);
    const files = Object.fromEntries(Object.entries(unzipSync(new Uint8Array(bytes))).map(([name, data]) => [name, strFromU8(data)]));
    // The paragraph on screen (the page's live region says the same words, for screen readers).
    await this.page.getByRole('paragraph').filter({ hasText: /^Saved \d+ notes? in / }).waitFor({ timeout: TIMEOUT });
    await this.panel.client.checkScreen(this.page, 'panel: notes exported');
    return { name: download.suggestedFilename(), url: download.url(), files };
  }
}
