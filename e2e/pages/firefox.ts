/**
 * The extension's screens in Firefox (puppeteer-core over WebDriver BiDi), as a person
 * uses them: controls found by their label or accessible name and visible words, never
 * by CSS classes. A smaller sibling of the Chromium page objects (popup.ts, panel.ts,
 * verify.ts, which are Playwright's): only what the Firefox story needs.
 */
import path from 'node:path';
import { expect } from 'vitest';
import type { ElementHandle, Page } from 'puppeteer-core';
import { VIEWPORTS } from '../support/clients.ts';
import type { FirefoxClient } from '../support/firefox.ts';

const TIMEOUT = 15_000;
/**
 * How often a wait checks the page again. Puppeteer's default checks on each animation
 * frame, and Firefox runs none in a tab that is not in front (the popup behind the
 * verification tab): such a wait would only ever see the page as it was at the start.
 */
const POLL_MS = 100;

/** A pattern for a whole accessible name or label (a string is matched exactly, spaces collapsed). */
type Name = string | RegExp;

function pattern(name: Name): { source: string; flags: string } {
  if (typeof name !== 'string') return { source: name.source, flags: name.flags };
  return { source: `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, flags: '' };
}

/** The screen's controls and words, found the way a person (or a screen reader) finds them. */
export class FirefoxScreen {
  constructor(
    readonly page: Page,
    readonly client: FirefoxClient,
  ) {}

  /** Which page this is, for the names of the screens axe checks ("popup"). */
  protected get kind(): string {
    return 'page';
  }

  /** Checks this tab with axe-core, when the client audits (e2e/support/axe.ts): a screen arrived on, or screenshotted. */
  async check(screen: string): Promise<void> {
    await this.client.checkScreen(this.page, `${this.kind}: ${screen}`);
  }

  /**
   * Brings this tab to the front before acting on it or waiting for it: Firefox slows
   * the timers of a tab behind another to once a second or less, and every wait here
   * runs on a timer in the page.
   */
  async front(): Promise<void> {
    await this.page.bringToFront();
  }

  /** Waits for a button (or link) whose accessible name (aria-label, else its words) matches. */
  async button(name: Name, timeout = TIMEOUT): Promise<ElementHandle<Element>> {
    await this.front();
    const { source, flags } = pattern(name);
    const handle = await this.page.waitForFunction(
      (source: string, flags: string) => {
        const re = new RegExp(source, flags);
        // Its accessible name, roughly: aria-label, else its words without the aria-hidden ones (icons).
        const nameOf = (el: Element) => {
          const label = el.getAttribute('aria-label');
          if (label !== null) return label.replace(/\s+/g, ' ').trim();
          const copy = el.cloneNode(true) as Element;
          for (const hidden of copy.querySelectorAll('[aria-hidden="true"]')) hidden.remove();
          return (copy.textContent ?? '').replace(/\s+/g, ' ').trim();
        };
        return [...document.querySelectorAll('button, a[href], [role="button"]')].find((el) => re.test(nameOf(el)) && !(el as HTMLButtonElement).disabled) ?? false;
      },
      { timeout, polling: POLL_MS },
      source,
      flags,
    );
    return handle.asElement() as ElementHandle<Element>;
  }

  async click(name: Name, timeout = TIMEOUT): Promise<void> {
    await (await this.button(name, timeout)).click();
  }

  /** Waits for the form field whose label (a <label>, or aria-label) matches. */
  async field(label: Name): Promise<ElementHandle<Element>> {
    await this.front();
    const { source, flags } = pattern(label);
    const handle = await this.page.waitForFunction(
      (source: string, flags: string) => {
        const re = new RegExp(source, flags);
        const text = (s: string | null | undefined) => (s ?? '').replace(/\s+/g, ' ').trim();
        // Only a field that is laid out: a page still rendering (or one being replaced) has none yet.
        const shown = (el: Element | null | undefined) => (el && el.isConnected && el.getClientRects().length > 0 ? el : undefined);
        for (const l of document.querySelectorAll('label')) if (re.test(text(l.textContent)) && shown(l.control)) return l.control;
        return [...document.querySelectorAll('input, textarea, select')].find((el) => re.test(text(el.getAttribute('aria-label'))) && shown(el)) ?? false;
      },
      { timeout: TIMEOUT, polling: POLL_MS },
      source,
      flags,
    );
    return handle.asElement() as ElementHandle<Element>;
  }

  /** Types into a field, as a person does (it is emptied first). */
  async fill(label: Name, value: string): Promise<void> {
    const field = await this.field(label);
    // Focus and select by script, not a triple click: nothing here needs the mouse, and a
    // click needs a point on screen the busy CI machine sometimes had not laid out yet.
    await field.evaluate((el) => {
      (el as HTMLInputElement).focus();
      (el as HTMLInputElement).select?.();
    });
    await this.page.keyboard.press('Backspace');
    await field.type(value);
    expect(await field.evaluate((el) => (el as HTMLInputElement).value)).toBe(value);
  }

  /** Waits until the page shows these words. */
  async waitForText(words: string | RegExp, timeout = TIMEOUT): Promise<void> {
    await this.front();
    const { source, flags } = typeof words === 'string' ? { source: words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), flags: '' } : words;
    await this.page.waitForFunction((source: string, flags: string) => new RegExp(source, flags).test(document.body.innerText.replace(/[ \t]+/g, ' ')), { timeout, polling: POLL_MS }, source, flags);
  }

  /** Waits for a heading of this level whose words match. */
  async heading(level: number, name: Name, timeout = TIMEOUT): Promise<void> {
    await this.front();
    const { source, flags } = pattern(name);
    const found = await this.page.waitForFunction(
      (level: number, source: string, flags: string) =>
        [...document.querySelectorAll(`h${level}`)].map((h) => (h.textContent ?? '').replace(/\s+/g, ' ').trim()).find((words) => new RegExp(source, flags).test(words)) ?? false,
      { timeout, polling: POLL_MS },
      level,
      source,
      flags,
    );
    await this.check(`h${level} ${String(await found.jsonValue())}`);
  }

  /** The words of the first element with this role whose accessible name matches (an `img` with an aria-label, a list…). */
  async labelled(role: string, name: RegExp): Promise<{ label: string; text: string }> {
    await this.front();
    const handle = await this.page.waitForFunction(
      (role: string, source: string, flags: string) => {
        const el = [...document.querySelectorAll(`[role="${role}"][aria-label]`)].find((e) => new RegExp(source, flags).test(e.getAttribute('aria-label')!));
        return el ? { label: el.getAttribute('aria-label')!, text: el.textContent ?? '' } : false;
      },
      { timeout: TIMEOUT, polling: POLL_MS },
      role,
      name.source,
      name.flags,
    );
    return (await handle.jsonValue()) as { label: string; text: string };
  }

  async text(): Promise<string> {
    return this.page.evaluate(() => document.body.innerText);
  }

  async screenshot(file: string): Promise<void> {
    await this.check(path.basename(file, '.png'));
    await this.page.screenshot({ path: file as `${string}.png`, fullPage: true });
  }
}

export class FirefoxPopup extends FirefoxScreen {
  protected override get kind(): string {
    return 'popup';
  }

  static async open(client: FirefoxClient): Promise<FirefoxPopup> {
    const popup = new FirefoxPopup(await client.open('popup.html', VIEWPORTS.popup), client);
    await popup.heading(1, /.+/);
    return popup;
  }

  /** First run: names the device. @returns the short fingerprint the home screen then shows. */
  async setUp(name: string): Promise<string> {
    await this.heading(1, 'Set up this device');
    await this.fill('Your name, as your groups will see it', name);
    await this.click('Set up');
    await this.heading(1, 'Conclave');
    await this.waitForText(`This device: ${name}`);
    return this.fingerprint();
  }

  /** "This device's fingerprint" on the home screen: 16 characters. */
  async fingerprint(): Promise<string> {
    const shown = await this.labelled('img', /^This device's fingerprint:/);
    const short = shown.text.replace(/\s+/g, '');
    expect(short).toMatch(/^[a-z2-7]{16}$/);
    return short;
  }

  /** Pastes an invite into "Join with an invite" and joins; stays on the screen that follows. */
  async join(link: string): Promise<void> {
    await this.click('Join with an invite');
    await this.heading(1, 'Join with an invite');
    await this.fill('Invite link or code', link);
    await this.click('Join');
    await this.heading(1, /^(Waiting for the group key|You are in “.+”)$/, 30_000);
  }

  /** Makes an invite (not pre-keyed) from the home screen and reads the link from the screen; back home after. */
  async invite(groupName: string): Promise<string> {
    await this.click(`Invite to ${groupName}`);
    await this.heading(1, `Invite to “${groupName}”`);
    const prekeyed = await this.field('Let them read at once');
    if (await prekeyed.evaluate((el) => (el as HTMLInputElement).checked)) await prekeyed.click();
    await this.click('Make the invite');
    await this.heading(2, 'Invite link');
    const link = await this.page.evaluate(() => [...document.querySelectorAll('p')].map((p) => (p.textContent ?? '').trim()).find((t) => t.startsWith('conclave:join/')) ?? '');
    expect(link).toMatch(/^conclave:join\/INV1-/);
    await this.click('Done');
    await this.heading(1, 'Conclave');
    return link;
  }

  /** The popup opened again (as a person clicks the toolbar button again). */
  async reopen(): Promise<void> {
    await this.client.navigate(this.page, `${this.client.origin}/popup.html`);
    await this.heading(1, /.+/);
  }
}

export class FirefoxOptions extends FirefoxScreen {
  protected override get kind(): string {
    return 'options';
  }

  /** Points this device at the run's servers, as a person would: storage, connection, no STUN/TURN. */
  static async useServers(client: FirefoxClient, apiUrl: string, signalingUrl: string): Promise<FirefoxOptions> {
    const options = new FirefoxOptions(await client.open('options.html'), client);
    await options.fill('Storage server', apiUrl);
    await options.fill('Connection server', signalingUrl);
    await options.fill('STUN and TURN servers (JSON)', '[]');
    await options.click('Save');
    await options.waitForText('Saved. Conclave uses these servers from now on.', 10_000);
    await options.check('servers saved');
    return options;
  }
}

/** The side panel's page (Firefox's sidebar), opened in a tab of side-panel size. */
export class FirefoxPanel extends FirefoxScreen {
  protected override get kind(): string {
    return 'panel';
  }

  static async open(client: FirefoxClient): Promise<FirefoxPanel> {
    const panel = new FirefoxPanel(await client.open('sidepanel.html', VIEWPORTS.panel), client);
    await panel.heading(1, /.+/);
    return panel;
  }

  async expectGroup(name: string): Promise<void> {
    await this.heading(1, name);
  }

  async showMembers(): Promise<void> {
    await this.click(/^Members( \(\d+\))?/);
    await this.heading(2, 'Members');
  }

  async showNotes(): Promise<void> {
    await this.click('Notes');
    await this.heading(2, 'Notes');
    await this.page.waitForFunction(() => !document.body.innerText.includes('Decrypting the notes…'), { timeout: TIMEOUT, polling: POLL_MS });
  }

  /** The titles in the notes list, as shown. */
  async noteTitles(): Promise<string[]> {
    return this.page.evaluate(() =>
      [...document.querySelectorAll('[role="list"][aria-label="Notes"] button, ul[aria-label="Notes"] button')].map((b) => (b.textContent ?? '').trim()),
    );
  }

  /** Waits until the list shows exactly these titles (any order). */
  async expectTitles(titles: string[]): Promise<void> {
    await expect.poll(async () => (await this.noteTitles()).sort(), { timeout: TIMEOUT }).toEqual([...titles].sort());
  }

  /** Opens a note from the list; returns its text and the author line as shown. */
  async openNote(title: string): Promise<{ body: string; meta: string }> {
    const row = await this.page.waitForFunction(
      (title: string) =>
        [...document.querySelectorAll('[aria-label="Notes"] button')].find((b) => (b.textContent ?? '').replace(/\s+/g, ' ').trim() === title) ?? false,
      { timeout: TIMEOUT, polling: POLL_MS },
      title,
    );
    await (row.asElement() as ElementHandle<Element>).click();
    await this.heading(2, title);
    const read = await this.page.waitForFunction(
      () => {
        const body = [...document.querySelectorAll('[aria-label="Note text"]')][0];
        const meta = document.querySelector('article .note-meta');
        return body ? { body: body.textContent ?? '', meta: (meta?.textContent ?? '').replace(/\s+/g, ' ').trim() } : false;
      },
      { timeout: TIMEOUT, polling: POLL_MS },
    );
    return (await read.jsonValue()) as { body: string; meta: string };
  }

  async backToNotes(): Promise<void> {
    await this.click('All notes');
    await this.heading(2, 'Notes');
  }

  /** Writes a new note ("New note", Title, Text, Save) and stays on it, read back. */
  async writeNote(title: string, body: string): Promise<void> {
    await this.click('New note');
    await this.heading(2, 'New note');
    await this.fill('Title', title);
    await this.fill('Text', body);
    await this.click('Save');
    await this.heading(2, title);
    await expect
      .poll(() => this.page.evaluate(() => document.querySelector('[aria-label="Note text"]')?.textContent ?? null), { timeout: TIMEOUT })
      .toBe(body);
  }

  /**
   * "Verify" in the row of the member with this short fingerprint (as their own device
   * shows it): how a person finds a member whose name this device cannot read yet.
   */
  async openVerifyByFingerprint(short: string): Promise<FirefoxVerify> {
    await this.showMembers();
    const spelled = short
      .replace(/\s+/g, '')
      .match(/.{1,4}/g)!
      .map((group) => [...group].join(' '))
      .join(', ');
    const found = await this.page.waitForFunction(
      (spelled: string) => {
        const mark = [...document.querySelectorAll('[role="img"][aria-label]')].find((e) => e.getAttribute('aria-label')!.endsWith(`fingerprint: ${spelled}`));
        return mark?.closest('li')?.querySelector('button[aria-label^="Verify "]') ?? false;
      },
      { timeout: TIMEOUT, polling: POLL_MS },
      spelled,
    );
    const button = found.asElement() as ElementHandle<Element>;
    const tab = await this.client.nextTab('verify.html', () => button.click());
    const verify = new FirefoxVerify(tab, this.client);
    await verify.heading(1, /^Verify /);
    return verify;
  }

  /** "Verify <name>" in the members list: the verification tab opens. */
  async openVerify(name: string): Promise<FirefoxVerify> {
    await this.showMembers();
    const button = await this.button(`Verify ${name}`);
    const tab = await this.client.nextTab('verify.html', () => button.click());
    const verify = new FirefoxVerify(tab, this.client);
    await verify.heading(1, /^Verify /);
    return verify;
  }
}

/** The verification tab: the safety number, "The numbers match", and what the key wait came to. */
export class FirefoxVerify extends FirefoxScreen {
  protected override get kind(): string {
    return 'verify';
  }

  /** The 60 digits as 12 groups, read from each group's accessible name ("1 2 3 4 5"). */
  async safetyNumber(): Promise<string[]> {
    const groups = await this.page.waitForFunction(
      () => {
        const list = [...document.querySelectorAll('[aria-label]')].find((e) => e.getAttribute('aria-label')!.startsWith('Safety number with '));
        const items = list ? [...list.querySelectorAll('[aria-label]')].map((i) => i.getAttribute('aria-label')!.replace(/\s+/g, '')) : [];
        return items.length === 12 ? items : false;
      },
      { timeout: TIMEOUT, polling: POLL_MS },
    );
    return (await groups.jsonValue()) as string[];
  }

  async numbersMatch(): Promise<void> {
    await this.click('The numbers match');
  }

  async expectVerified(timeout = TIMEOUT): Promise<void> {
    await this.waitForText(/Verified: .+’s key is the one you checked\./, timeout);
  }

  /** The key wait this verification started, as the tab says it ("Key received from Ana."). */
  async keyNews(): Promise<string> {
    const text = await this.text();
    return /(Key received from .+\.|Key received through the mailbox\.|Waiting for .+…|Looking for .+…|Connecting to .+…)/.exec(text)?.[1] ?? '';
  }
}
