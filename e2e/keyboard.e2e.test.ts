/**
 * One flow with the keyboard only (issue 14, "Checked by machine"), in real Chromium with
 * the built extension and real servers: Ana creates a group and invites Ben; Ben, on his
 * own profile, joins; they verify each other by typing the safety number the other reads
 * out; Ben reads Ana's note. Every control is reached with Tab (or Shift+Tab), and used
 * with Enter, Space, the arrow keys or typed characters (e2e/support/keyboard.ts): no
 * click, no hover, no focus set from script; every page of both browsers listens for a
 * trusted pointer, mouse or wheel event, so a click slipped in fails the last step. A
 * control Tab cannot reach fails the step; a
 * control that takes the focus without showing it, a move to another screen that leaves
 * the focus on the page's body (a keyboard user thrown back to the top) and a serious or
 * critical axe-core violation on any screen of the flow fail the last step. A dialog
 * ("Remove…") is opened, walked with Tab and Shift+Tab (the focus never reaches the page
 * behind it) and closed with Escape, which gives the focus back to the button that opened it.
 *
 * Ben's browser prefers a dark colour scheme, so his screens are checked in dark colours.
 *
 * Ben goes from his waiting popup to the verification tab with its "Verify Ana". Opening
 * the side panel itself is the browser's own (its toolbar menu, or a keyboard shortcut a
 * person sets in chrome://extensions/shortcuts): the test opens sidepanel.html as a tab.
 * Screenshots of each screen, and axe.txt, go to artifacts/e2e-<timestamp>/.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerifyPage } from './pages/verify.ts';
import { Artifacts } from './support/artifacts.ts';
import { AxeAudit } from './support/axe.ts';
import { builtExtensionDir, Client, disposeAll, VIEWPORTS } from './support/clients.ts';
import { Keyboard } from './support/keyboard.ts';
import { stopAtFirstFailure } from './support/steps.ts';
import { startSystem, type System } from './support/system.ts';

const STEP_TIMEOUT = 180_000;
const TIMEOUT = 15_000;

const ANA = 'Annika Keyworth';
const BEN = 'Bertil Tabsworth';
const GROUP = 'Allotment Committee';
const NOTE = { title: 'Seed order for spring', body: 'Broad beans, two rows of leeks, and the blue potatoes from last year.' };

describe('Keyboard only: create a group, invite, join, verify by a typed safety number, read a note', () => {
  let system: System | undefined;
  const artifacts = new Artifacts(`${new Date().toISOString().replace(/[:.]/g, '-')}-keyboard`);
  const axe = new AxeAudit(artifacts);
  artifacts.beforeShot = (page, name) => axe.check(page, name);
  const keys = new Keyboard();

  let ana: Client, ben: Client;
  let anaPopup: Page, anaPanel: Page, benPopup: Page, benPanel: Page;
  let invite = '';

  beforeAll(async () => {
    builtExtensionDir();
    system = await startSystem();
    // Ben's browser prefers a dark scheme: axe checks the dark colours on his screens.
    [ana, ben] = await Promise.all([Client.create('Ana (keyboard)', { axe }), Client.create('Ben (keyboard)', { axe, colorScheme: 'dark' })]);
  }, 60_000);

  afterAll(async () => {
    try {
      await disposeAll();
    } finally {
      await system?.dispose();
    }
    console.log(
      [
        '',
        'Conclave keyboard-only flow — summary',
        `Tab pressed ${keys.tabs} times; pointer events: ${keys.pointer.length ? keys.pointer.join('; ') : 'none'}; focus not visible on: ${keys.focusNotVisible.length ? keys.focusNotVisible.join('; ') : 'none'}`,
        'where the focus landed on each new screen:',
        ...keys.landings.map((l) => `  ${l.lost ? 'LOST' : 'ok  '}  ${l.screen} → ${l.on}`),
        axe.summary(),
        `screenshots: ${artifacts.dir} (${artifacts.shots.size}); axe-core findings: ${axe.write()}`,
        '',
      ].join('\n'),
    );
  }, 60_000);

  stopAtFirstFailure(artifacts, () => [ana, ben]);

  /**
   * Waits for the screen's heading, then notes where the focus landed after moving there (it
   * should be on the new screen). A page just opened starts at its top, as any page does: `opened`.
   */
  const heading = async (page: Page, name: string | RegExp, level = 1, opened = false): Promise<void> => {
    await page.getByRole('heading', { level, name }).waitFor({ timeout: TIMEOUT });
    if (!opened) await keys.landed(page, `${new URL(page.url()).pathname}: ${String(name)}`);
  };

  /** The options page: the run's servers typed in, saved with Enter. */
  async function useServers(client: Client): Promise<void> {
    const page = await client.open('options.html');
    const api = system!;
    await keys.type(page, page.getByLabel('Storage server'), 'options: Storage server', api.apiUrl);
    await keys.type(page, page.getByLabel('Connection server'), 'options: Connection server', api.signalingUrl);
    await keys.type(page, page.getByLabel('STUN and TURN servers (JSON)'), 'options: STUN and TURN servers', '[]');
    await keys.press(page, page.getByRole('button', { name: 'Save', exact: true }), 'options: Save');
    await page.getByText('Saved. Conclave uses these servers from now on.').waitFor({ timeout: TIMEOUT });
    await artifacts.shot(page, `${client.label.split(' ')[0]!.toLowerCase()}-options-saved`);
    await page.close();
  }

  /** The popup's first run: the name typed, "Set up" with Enter. */
  async function setUp(client: Client, name: string): Promise<Page> {
    const popup = await client.open('popup.html', VIEWPORTS.popup);
    await heading(popup, 'Set up this device', 1, true);
    await artifacts.shot(popup, `${client.label.split(' ')[0]!.toLowerCase()}-popup-set-up`);
    await keys.type(popup, popup.getByLabel('Your name, as your groups will see it'), 'popup: your name', name);
    await keys.press(popup, popup.getByRole('button', { name: 'Set up', exact: true }), 'popup: Set up');
    await heading(popup, 'Conclave');
    await popup.getByText(`This device: ${name}`).waitFor({ timeout: TIMEOUT });
    return popup;
  }

  it(
    '1. Ana sets up her device and creates a group (verified people only)',
    async () => {
      await ana.launch();
      await keys.watch(ana.context);
      await useServers(ana);
      anaPopup = await setUp(ana, ANA);
      await artifacts.shot(anaPopup, 'ana-popup-home-empty');
      await keys.press(anaPopup, anaPopup.getByRole('button', { name: 'Create a group' }), 'popup: Create a group');
      await heading(anaPopup, 'Create a group');
      await keys.type(anaPopup, anaPopup.getByLabel('Group name'), 'popup: Group name', GROUP);
      await keys.choose(
        anaPopup,
        anaPopup.getByRole('group', { name: 'Who gets the key when they join?' }),
        anaPopup.getByRole('radio', { name: 'Verified people only (safest)' }),
        'popup: Verified people only',
      );
      await artifacts.shot(anaPopup, 'ana-popup-create-group');
      await keys.press(anaPopup, anaPopup.getByRole('button', { name: 'Create the group' }), 'popup: Create the group');
      await heading(anaPopup, `Save the recovery code of “${GROUP}”`);
      await artifacts.shot(anaPopup, 'ana-popup-recovery-code');
      await keys.tick(anaPopup, anaPopup.getByRole('checkbox', { name: 'I saved the recovery code somewhere safe' }), 'popup: I saved the recovery code', true);
      await keys.press(anaPopup, anaPopup.getByRole('button', { name: 'Continue' }), 'popup: Continue');
      await heading(anaPopup, 'Conclave');
      await anaPopup.getByRole('listitem').filter({ has: anaPopup.getByRole('heading', { level: 3, name: GROUP }) }).getByText('Admin', { exact: true }).waitFor({ timeout: TIMEOUT });
      await artifacts.shot(anaPopup, 'ana-popup-home');
    },
    STEP_TIMEOUT,
  );

  it(
    '2. Ana writes a note in the side panel',
    async () => {
      anaPanel = await ana.open('sidepanel.html', VIEWPORTS.panel);
      await heading(anaPanel, GROUP, 1, true);
      await keys.press(anaPanel, anaPanel.getByRole('button', { name: 'New note' }), 'panel: New note');
      await heading(anaPanel, 'New note', 2);
      await keys.type(anaPanel, anaPanel.getByLabel('Title', { exact: true }), 'panel: note Title', NOTE.title);
      await keys.type(anaPanel, anaPanel.getByLabel('Text', { exact: true }), 'panel: note Text', NOTE.body);
      await artifacts.shot(anaPanel, 'ana-panel-new-note');
      await keys.press(anaPanel, anaPanel.getByRole('button', { name: 'Save', exact: true }), 'panel: Save');
      await heading(anaPanel, NOTE.title, 2);
      await expect.poll(() => anaPanel.getByLabel('Note text', { exact: true }).textContent(), { timeout: TIMEOUT }).toBe(NOTE.body);
      await artifacts.shot(anaPanel, 'ana-panel-note-saved');
    },
    STEP_TIMEOUT,
  );

  it(
    '3. Ana makes an invite (the key is handed over only after verifying)',
    async () => {
      await keys.press(anaPopup, anaPopup.getByRole('button', { name: `Invite to ${GROUP}` }), 'popup: Invite');
      await heading(anaPopup, `Invite to “${GROUP}”`);
      await keys.tick(anaPopup, anaPopup.getByRole('checkbox', { name: 'Let them read at once' }), 'popup: Let them read at once', false);
      await keys.press(anaPopup, anaPopup.getByRole('button', { name: 'Make the invite' }), 'popup: Make the invite');
      await anaPopup.getByRole('heading', { name: 'Invite link' }).waitFor({ timeout: TIMEOUT });
      invite = ((await anaPopup.getByText(/^conclave:join\//).textContent()) ?? '').trim();
      expect(invite).toMatch(/^conclave:join\/INV1-/);
      await anaPopup.getByRole('img', { name: /^QR code of the invite link/ }).waitFor({ timeout: TIMEOUT });
      await artifacts.shot(anaPopup, 'ana-popup-invite');
      await keys.press(anaPopup, anaPopup.getByRole('button', { name: 'Done', exact: true }), 'popup: Done');
      await heading(anaPopup, 'Conclave');
    },
    STEP_TIMEOUT,
  );

  it(
    '4. Ben, on his own profile, joins with the invite and waits for the key',
    async () => {
      await ben.launch();
      await keys.watch(ben.context);
      await useServers(ben);
      benPopup = await setUp(ben, BEN);
      await keys.press(benPopup, benPopup.getByRole('button', { name: 'Join with an invite' }), 'popup: Join with an invite');
      await heading(benPopup, 'Join with an invite');
      await keys.type(benPopup, benPopup.getByLabel('Invite link or code'), 'popup: Invite link or code', invite);
      await artifacts.shot(benPopup, 'ben-popup-join');
      await keys.press(benPopup, benPopup.getByRole('button', { name: 'Join', exact: true }), 'popup: Join');
      await heading(benPopup, 'Waiting for the group key');
      await artifacts.shot(benPopup, 'ben-popup-waiting');
    },
    STEP_TIMEOUT,
  );

  it(
    '5. They verify each other: each types the safety number the other reads out',
    async () => {
      // Ana is online and refuses until she has verified Ben: his waiting popup offers "Verify Ana" (friction 1).
      const verifyAna = benPopup.getByRole('button', { name: `Verify ${ANA}`, exact: true });
      await verifyAna.waitFor({ timeout: 30_000 });
      await artifacts.shot(benPopup, 'ben-popup-waiting-verify');
      const benTab = await ben.nextTab(() => keys.press(benPopup, verifyAna, `popup: Verify ${ANA}`));
      const benVerifies = await VerifyPage.attach(benTab, ANA, ben);
      // His side panel (the browser's own to open: here a tab), waiting too; he reads there once the key came.
      benPanel = await ben.open('sidepanel.html', VIEWPORTS.panel);
      // Without the key the group's name cannot be read yet ("Unnamed group (waiting for its key)").
      await benPanel.getByRole('status').filter({ hasText: 'Waiting for the group’s key' }).waitFor({ timeout: TIMEOUT });
      await artifacts.shot(benPanel, 'ben-panel-waiting');
      const sections = (page: Page) => page.getByRole('navigation', { name: 'Group sections' });

      await keys.press(anaPanel, sections(anaPanel).getByRole('button', { name: /^\W*Members/ }), 'panel: Members');
      await heading(anaPanel, 'Members', 2);
      // Ben is the only other member: his row's Verify, whatever name the list can show yet.
      const verifyBen = anaPanel.getByRole('list', { name: 'Members', exact: true }).getByRole('button', { name: /^Verify / });
      await verifyBen.waitFor({ timeout: 30_000 });
      await artifacts.shot(anaPanel, 'ana-panel-members');
      const anaTab = await ana.nextTab(() => keys.press(anaPanel, verifyBen, 'panel: Verify Ben'));
      const anaVerifies = await VerifyPage.attach(anaTab, BEN, ana);

      const [anaSees, benSees] = await Promise.all([anaVerifies.safetyNumber(), benVerifies.safetyNumber()]);
      expect(anaSees).toHaveLength(12);
      expect(benSees).toEqual(anaSees);
      const number = anaSees.join('');
      await artifacts.shot(anaTab, 'ana-verify');

      for (const [tab, page, who] of [
        [anaVerifies, anaTab, 'ana'],
        [benVerifies, benTab, 'ben'],
      ] as const) {
        await keys.type(page, page.getByLabel('Their safety number'), 'verify: Their safety number', number);
        await keys.press(page, page.getByRole('button', { name: 'Check the typed number' }), 'verify: Check the typed number');
        await tab.expectVerified(30_000);
        await artifacts.shot(page, `${who}-verify-typed`);
      }
      await Promise.all([anaVerifies.close(), benVerifies.close()]);
    },
    STEP_TIMEOUT,
  );

  it(
    "6. Ben reads Ana's note",
    async () => {
      await benPanel.bringToFront();
      await keys.press(benPanel, benPanel.getByRole('navigation', { name: 'Group sections' }).getByRole('button', { name: /^\W*Notes$/ }), 'panel: Notes');
      await heading(benPanel, 'Notes', 2);
      const row = benPanel.getByRole('list', { name: 'Notes' }).getByRole('button', { name: NOTE.title, exact: true });
      await row.waitFor({ timeout: 30_000 });
      await artifacts.shot(benPanel, 'ben-panel-notes');
      await keys.press(benPanel, row, 'panel: the note in the list');
      await heading(benPanel, NOTE.title, 2);
      expect(await benPanel.getByLabel('Note text', { exact: true }).textContent()).toBe(NOTE.body);
      expect(((await benPanel.getByRole('article').locator('.note-meta').textContent()) ?? '').replace(/\s+/g, ' ')).toContain(`by ${ANA}`);
      await artifacts.shot(benPanel, 'ben-panel-note-read');
    },
    STEP_TIMEOUT,
  );

  it(
    '7. A dialog by keyboard: "Remove…" opens it with the focus on Cancel, Tab stays inside, Escape closes it and gives the focus back',
    async () => {
      await anaPanel.bringToFront();
      const remove = anaPanel.getByRole('list', { name: 'Members', exact: true }).getByRole('button', { name: /^Remove / });
      await keys.press(anaPanel, remove, 'panel: Remove…');
      const dialog = anaPanel.getByRole('dialog');
      await dialog.waitFor({ timeout: TIMEOUT });
      await artifacts.shot(anaPanel, 'ana-panel-remove-dialog');
      // Where the focus is: in the dialog, out of the page (the native modal lets Tab go on to
      // the browser's own toolbar, and the next Tab comes back), or — wrong — on the page behind it.
      const where = () =>
        dialog.evaluate((el) => {
          const active = document.activeElement;
          if (active && el.contains(active)) return 'dialog';
          return !active || active === document.body ? 'browser' : `page behind: ${active.outerHTML.slice(0, 80)}`;
        });
      expect(await where()).toBe('dialog');
      expect(await dialog.getByRole('button', { name: 'Cancel' }).evaluate((el) => el === document.activeElement)).toBe(true);
      const visited: string[] = [];
      for (const key of ['Tab', 'Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
        await anaPanel.keyboard.press(key);
        visited.push(await where());
      }
      expect(visited.filter((w) => w !== 'dialog' && w !== 'browser')).toEqual([]);
      expect(visited.filter((w) => w === 'dialog').length).toBeGreaterThanOrEqual(4);
      // Back on a control of the dialog before Escape.
      if ((await where()) !== 'dialog') await anaPanel.keyboard.press('Tab');
      expect(await where()).toBe('dialog');
      await anaPanel.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden', timeout: TIMEOUT });
      await expect.poll(() => remove.evaluate((el) => el === document.activeElement), { timeout: TIMEOUT }).toBe(true);
      // Nobody was removed.
      await expect.poll(() => anaPanel.getByRole('list', { name: 'Members', exact: true }).getByRole('listitem').count()).toBe(2);
    },
    STEP_TIMEOUT,
  );

  it('8. every control used showed its focus, the focus moved to each new screen, and axe-core found no serious or critical violation on any screen', () => {
    expect(keys.tabs).toBeGreaterThan(20);
    // No mouse: not one trusted pointer, mouse or wheel event reached any page of either browser.
    expect(keys.pointer).toEqual([]);
    expect(keys.focusNotVisible).toEqual([]);
    // After every move to another screen the focus is on that screen, not lost to the page's top.
    expect(keys.landings.length).toBeGreaterThan(10);
    expect(keys.landings.filter((l) => l.lost).map((l) => l.screen)).toEqual([]);
    expect(axe.distinct).toBeGreaterThan(10);
    expect(axe.blocking()).toEqual([]);
    const errors = [ana, ben].flatMap((c) => c.pageErrors.map((e) => `${c.label}: ${e}`));
    expect(errors).toEqual([]);
  });
});
