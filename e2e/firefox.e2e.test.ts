/**
 * The core of the story in real Firefox: the Firefox build of the extension
 * (.output/firefox-mv2) in Debian's firefox-esr, driven over WebDriver BiDi
 * (e2e/support/firefox.ts), with a member in Chromium (.output/chrome-mv3), against a
 * real storage API and signaling server on this machine.
 *
 *   1. Ana, in Chromium, creates a group (verified people only), writes a note and
 *      makes an invite.
 *   2. Fern, in Firefox, points her extension at the servers, sets up her device and
 *      joins with the invite: she waits for the key.
 *   3. They open the verification screens for each other: the same safety number on
 *      both; Fern presses "The numbers match" (she is told she waits for Ana), then
 *      Ana: the key reaches Fern live, peer to peer — Ana's tab says it went directly,
 *      and the server holds the box Fern's device seals to itself after a live handover
 *      (e2e/support/key-path.ts), which a key from the mailbox never leaves.
 *   4. Notes both ways: Fern reads Ana's note in Firefox's side panel page and writes
 *      one; Ana reads it in Chromium, by Fern's name.
 *   5. Fern quits Firefox; Ana writes a note meanwhile; Firefox starts again on the same
 *      profile (the extension reinstalled at the same address): Fern's device still
 *      holds its identity and the group key, and she reads Ana's note.
 *   6. Fern points Options at servers elsewhere (https): Firefox lets the extension ask
 *      for them, and the settings are saved (then set back).
 *   7. Ana makes Fern an admin and closes Chromium; Fern invites Gus (Chromium), they
 *      verify by safety number, and Fern's Firefox — the only holder online — hands Gus
 *      the key live; Gus reads every note.
 *   8. Firefox printed no `JavaScript error:` line all along (the extension's uncaught
 *      errors, the background page's included, appear only there; what Firefox's own
 *      front end prints while it shuts down is not counted), and no Chromium page threw.
 *   9. axe-core, run on every Firefox screen the steps arrive on and every Firefox tab
 *      screenshotted (e2e/support/axe.ts, the main story's rules), found no violation of
 *      impact serious or critical; every violation is listed in axe.txt / axe.json.
 *
 * Screenshots go to artifacts/e2e-<timestamp>/, with Firefox's whole output
 * (firefox-output.log).
 */
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FirefoxOptions, FirefoxPanel, FirefoxPopup, type FirefoxVerify } from './pages/firefox.ts';
import { PanelPage } from './pages/panel.ts';
import { PopupPage } from './pages/popup.ts';
import type { VerifyPage } from './pages/verify.ts';
import { Artifacts, StepClock } from './support/artifacts.ts';
import { AxeAudit } from './support/axe.ts';
import { builtExtensionDir, Client, disposeAll } from './support/clients.ts';
import { disposeAllFirefox, FirefoxClient, firefoxPrerequisites } from './support/firefox.ts';
import { stopAtFirstFailure } from './support/steps.ts';
import { keyPathOf } from './support/key-path.ts';
import { startSystem, type System } from './support/system.ts';

const STEP_TIMEOUT = 180_000;
/**
 * Both online, both pressing “The numbers match”: the key must pass live, peer to peer
 * (issue 14, friction 7).
 */
const EXPECTED_KEY_PATH = 'live';

const ANA = 'Anastasia Quillfeather';
const FERN = 'Fernanda Ortiz-Lindqvist';
const GUS = 'Gustavo Pellerin';
const GROUP = 'Harbour Archive Society';
const NOTE_ANA = { title: 'Where the ledgers are kept', body: 'Box 14 on the top shelf; the key is with the harbourmaster.' };
const NOTE_FERN = { title: 'Written in Firefox', body: 'Scanned the 1911 ledger: pages 40 to 62 are water-damaged.' };
/** Servers somewhere else, as a group that runs its own would use (reserved .example names that never resolve: saved, then changed back). */
const ELSEWHERE = { apiUrl: 'https://notes.harbour-archive.example', signalingUrl: 'https://signal.harbour-archive.example/peerjs' };
const NOTE_AWAY = { title: 'While Fern was away', body: 'The archive closes at noon on Saturdays from next month.' };

describe('Conclave in real Firefox: a Firefox member joins a Chromium member’s group, and hands the key on', () => {
  let system: System | undefined;
  const artifacts = new Artifacts();
  const clock = new StepClock();
  // Every Firefox screen the page objects arrive on, and every Firefox tab screenshotted, is checked with axe-core.
  const axe = new AxeAudit(artifacts);
  let ana: Client, gus: Client;
  let fern: FirefoxClient;
  let anaPopup: PopupPage, anaPanel: PanelPage;
  let fernPopup: FirefoxPopup, fernPanel: FirefoxPanel;
  let fernShort = '';
  let inviteLink = '';
  let keyPath = '';
  let gusKeyPath = '';

  const api = () => system!;

  beforeAll(async () => {
    // First: clear failures when a build or Firefox is missing.
    builtExtensionDir();
    firefoxPrerequisites();
    system = await startSystem();
    ana = await Client.create('Ana (Chromium)');
    gus = await Client.create('Gus (Chromium)');
    fern = await FirefoxClient.create('Fern (Firefox)', { axe });
  }, 60_000);

  afterAll(async () => {
    const output = fern?.output() ?? '';
    const errors = fern?.javaScriptErrors() ?? [];
    try {
      await Promise.allSettled([disposeAll(), disposeAllFirefox()]);
    } finally {
      await system?.dispose();
    }
    writeFileSync(artifacts.file('firefox-output.log'), output);
    console.log(
      [
        '',
        'Conclave in Firefox — summary',
        clock.summary(),
        `key path to Fern (Firefox): ${keyPath || 'not reached'}; to Gus (Chromium) from Fern: ${gusKeyPath || 'not reached'}`,
        errors.length ? `Firefox's JavaScript errors:\n  ${errors.join('\n  ')}` : "Firefox's JavaScript errors: none",
        axe.summary(),
        `screenshots and Firefox's output: ${artifacts.dir}; axe-core findings: ${axe.write()}`,
        '',
      ].join('\n'),
    );
  }, 60_000);

  stopAtFirstFailure(artifacts, () => [ana, gus]);
  // What every Firefox tab showed when a step failed (the Chromium tabs are saved by stopAtFirstFailure).
  afterEach(async ({ task }) => {
    if (task.result?.state !== 'fail' || !fern?.online) return;
    let i = 0;
    for (const page of await fern.pages()) await page.screenshot({ path: artifacts.file(`FAILED-Fern-${++i}.png`) as `${string}.png` }).catch(() => undefined);
  });

  /** A screenshot of a Firefox tab into the run's folder. */
  let shots = 0;
  async function firefoxShot(screen: { screenshot(file: string): Promise<void> }, name: string): Promise<string> {
    const file = artifacts.file(`firefox-${String(++shots).padStart(2, '0')}-${name}.png`);
    await screen.screenshot(file);
    return file;
  }

  it(
    '1. Ana, in Chromium, creates a group (verified people only), writes a note and makes an invite',
    () =>
      clock.run('1. Ana (Chromium): group, note, invite', async () => {
        await ana.launch();
        await ana.useServers(api().apiUrl, api().signalingUrl);
        anaPopup = await PopupPage.open(ana);
        await anaPopup.setUp(ANA);
        await anaPopup.createGroup(GROUP, 'verified');
        await anaPopup.confirmRecoverySaved();
        anaPanel = await PanelPage.open(ana, GROUP);
        await anaPanel.writeNote(NOTE_ANA.title, NOTE_ANA.body);
        await anaPanel.backToNotes();
        await anaPopup.reopen();
        inviteLink = (await anaPopup.invite(GROUP)).link;
        await anaPopup.done();
      }),
    STEP_TIMEOUT,
  );

  it(
    '2. Fern, in Firefox, sets up her device and joins with the invite: she waits for the key',
    () =>
      clock.run('2. Fern (Firefox): servers, set-up, join', async () => {
        await fern.launch();
        clock.mark('Firefox started, extension installed');
        const options = await FirefoxOptions.useServers(fern, api().apiUrl, api().signalingUrl);
        await firefoxShot(options, 'options-servers');
        fernPopup = await FirefoxPopup.open(fern);
        await firefoxShot(fernPopup, 'popup-first-run');
        fernShort = await fernPopup.setUp(FERN);
        await fernPopup.join(inviteLink);
        await fernPopup.heading(1, 'Waiting for the group key');
        // Ana is online but has not verified Fern: she refuses, and says why.
        await fernPopup.waitForText(`Waiting for ${ANA} to verify you…`, 30_000);
        await firefoxShot(fernPopup, 'popup-waiting');
        clock.mark('Fern waits for Ana to verify her');
      }),
    STEP_TIMEOUT,
  );

  it(
    '3. They compare safety numbers (the same on both screens), both press “The numbers match”, and the key reaches Fern',
    () =>
      clock.run('3. Safety number, key to Fern', async () => {
        // Before the key, the group's name cannot be read: the panel says it waits.
        fernPanel = await FirefoxPanel.open(fern);
        await fernPanel.waitForText('Waiting for the group’s key');
        await firefoxShot(fernPanel, 'panel-waiting');
        const fernVerifiesAna: FirefoxVerify = await fernPanel.openVerify(ANA);
        await anaPanel.showMembers();
        const fernRow = anaPanel.memberWithFingerprint(fernShort);
        await fernRow.getByText('Waiting for the key').waitFor({ timeout: 20_000 });
        const anaVerifiesFern: VerifyPage = await anaPanel.openVerifyIn(fernRow);
        const [inChromium, inFirefox] = await Promise.all([anaVerifiesFern.safetyNumber(), fernVerifiesAna.safetyNumber()]);
        expect(inChromium).toHaveLength(12);
        for (const group of inChromium) expect(group).toMatch(/^\d{5}$/);
        expect(inFirefox).toEqual(inChromium);
        await firefoxShot(fernVerifiesAna, 'verify-fern-sees-ana');
        clock.mark('the same safety number in Chromium and Firefox');

        // Fern presses first: Ana has not verified her yet, and her tab says whom she waits for.
        await fernVerifiesAna.numbersMatch();
        await fernVerifiesAna.expectVerified();
        await expect.poll(() => fernVerifiesAna.keyNews(), { timeout: 30_000 }).toContain(ANA);
        clock.mark(`Fern pressed “The numbers match”: ${await fernVerifiesAna.keyNews()}`);
        await firefoxShot(fernVerifiesAna, 'verify-fern-verified-ana');
        // Then Ana: the key reaches Fern, whose waiting popup says she is in, by itself.
        await anaVerifiesFern.numbersMatch();
        await anaVerifiesFern.expectVerified();
        clock.mark('Ana pressed “The numbers match”');
        // Ana's tab says how the key went, as the server's boxes below prove it.
        await anaVerifiesFern.page.getByText(/The group key went to .+'s device just now, directly\./).first().waitFor({ timeout: 30_000 });
        await fernPopup.heading(1, `You are in “${GROUP}”`, 30_000);
        clock.mark('Fern’s popup: she is in');
        await firefoxShot(fernPopup, 'popup-in');
        await fernPopup.click('Done');
        await fernPopup.heading(1, 'Conclave');
        // Which way it came: a box Fern's device sealed to itself after a live handover, or only Ana's box from the mailbox.
        const address = new URL(anaVerifiesFern.page.url());
        keyPath = keyPathOf(api().sqlitePath, address.searchParams.get('group')!, address.searchParams.get('member')!);
        clock.mark(`key path: ${keyPath}`);
        expect(keyPath).toBe(EXPECTED_KEY_PATH);
        await Promise.all([anaVerifiesFern.close(), fernVerifiesAna.page.close()]);
      }),
    STEP_TIMEOUT,
  );

  it(
    '4. Notes both ways: Fern reads Ana’s note in Firefox’s side panel and writes one, which Ana reads in Chromium',
    () =>
      clock.run('4. Notes both ways', async () => {
        // The panel, open since Fern waited, names the group now that she has its key.
        await fernPanel.expectGroup(GROUP);
        await fernPanel.showNotes();
        await fernPanel.expectTitles([NOTE_ANA.title]);
        const read = await fernPanel.openNote(NOTE_ANA.title);
        expect(read.body).toBe(NOTE_ANA.body);
        expect(read.meta).toContain(`by ${ANA}`);
        expect(read.meta).toContain('Verified');
        await fernPanel.backToNotes();
        await fernPanel.writeNote(NOTE_FERN.title, NOTE_FERN.body);
        await fernPanel.backToNotes();
        await fernPanel.expectTitles([NOTE_ANA.title, NOTE_FERN.title]);
        await firefoxShot(fernPanel, 'panel-notes');

        await anaPanel.showNotes();
        await anaPanel.expectTitles([NOTE_ANA.title, NOTE_FERN.title]);
        const fromFirefox = await anaPanel.openNote(NOTE_FERN.title);
        expect(fromFirefox.body).toBe(NOTE_FERN.body);
        expect(fromFirefox.meta).toContain(`by ${FERN}`);
        expect(fromFirefox.meta).toContain('Verified');
        await artifacts.shot(anaPanel.page, 'chromium-panel-note-from-firefox');
      }),
    STEP_TIMEOUT,
  );

  it(
    '5. Fern quits Firefox; Ana writes while she is away; Firefox comes back on the same profile and Fern reads it',
    () =>
      clock.run('5. Firefox restarted: keys and notes kept', async () => {
        await fern.close();
        clock.mark('Fern quit Firefox');
        await anaPanel.backToNotes();
        await anaPanel.writeNote(NOTE_AWAY.title, NOTE_AWAY.body);
        await anaPanel.backToNotes();
        // The same profile: the extension keeps its address, so its IndexedDB (identity,
        // non-extractable keys, the group key) is the one it left.
        await fern.launch();
        clock.mark('Firefox back on the same profile');
        fernPopup = await FirefoxPopup.open(fern);
        await fernPopup.heading(1, 'Conclave');
        await fernPopup.waitForText(`This device: ${FERN}`);
        fernPanel = await FirefoxPanel.open(fern);
        await fernPanel.expectGroup(GROUP);
        await fernPanel.showNotes();
        await fernPanel.expectTitles([NOTE_ANA.title, NOTE_FERN.title, NOTE_AWAY.title]);
        const read = await fernPanel.openNote(NOTE_AWAY.title);
        expect(read.body).toBe(NOTE_AWAY.body);
        expect(read.meta).toContain(`by ${ANA}`);
        await fernPanel.backToNotes();
        await firefoxShot(fernPanel, 'panel-notes-after-restart');
      }),
    STEP_TIMEOUT,
  );

  it(
    '6. Fern can point Options at servers elsewhere: Firefox lets the extension ask for them (MV2: optional_permissions)',
    () =>
      clock.run('6. Options: servers elsewhere', async () => {
        // This profile grants what an extension may ask for without a prompt (a headless
        // Firefox cannot show one); an origin the manifest does not declare is refused all the same.
        const options = await FirefoxOptions.useServers(fern, ELSEWHERE.apiUrl, ELSEWHERE.signalingUrl);
        await firefoxShot(options, 'options-servers-elsewhere');
        // Back to this run's servers.
        await FirefoxOptions.useServers(fern, api().apiUrl, api().signalingUrl);
      }),
    STEP_TIMEOUT,
  );

  it(
    '7. Ana makes Fern an admin and goes offline; Fern invites Gus (Chromium); they verify, and Fern’s Firefox hands Gus the key live',
    () =>
      clock.run('7. Firefox hands the key to Gus (Chromium)', async () => {
        await anaPanel.makeAdmin(FERN);
        await fernPanel.waitForText('You are an admin of this group.', 20_000);
        await ana.close();
        clock.mark('Fern is an admin; Ana closed Chromium');
        await fernPopup.reopen();
        const link = await fernPopup.invite(GROUP);
        clock.mark('Fern made an invite in Firefox');
        // The link says who invites (read as the join screen reads it).
        expect(new URLSearchParams(link.split('?')[1] ?? '').get('from')).toBe(FERN);

        await gus.launch();
        await gus.useServers(api().apiUrl, api().signalingUrl);
        const gusPopup = await PopupPage.open(gus);
        const gusShort = await gusPopup.setUp(GUS);
        clock.mark('Gus set up his device');
        await gusPopup.join(link);
        await gusPopup.expectHeading('Waiting for the group key');
        clock.mark('Gus joined and waits');

        const gusPanel = await PanelPage.open(gus);
        await gusPanel.waitingBanner().waitFor();
        const gusVerifiesFern = await gusPanel.openVerify(FERN);
        const fernVerifiesGus = await fernPanel.openVerifyByFingerprint(gusShort);
        const [inChromium, inFirefox] = await Promise.all([gusVerifiesFern.safetyNumber(), fernVerifiesGus.safetyNumber()]);
        expect(inFirefox).toEqual(inChromium);
        clock.mark('the same safety number in Chromium and Firefox');
        await gusVerifiesFern.numbersMatch();
        await gusVerifiesFern.expectVerified();
        await fernVerifiesGus.numbersMatch();
        await fernVerifiesGus.expectVerified();
        clock.mark('both pressed “The numbers match”');
        await gusPopup.expectHeading(`You are in “${GROUP}”`);
        // Fern's tab says the key went directly. When Gus's own round and Fern's offer cross
        // (seen with Firefox as the holder), her device counts the round it served as the
        // hand-over (holder.ts servedJustBefore) — but if that round finishes only after Gus
        // declined the offer, the tab may still say nothing about the key. Never the mailbox
        // or 'not online': the key path below is asserted live either way.
        await firefoxShot(fernVerifiesGus, 'verify-fern-verified-gus');
        expect(await fernVerifiesGus.text()).not.toMatch(/mailbox|not online|did not finish|on its way/i);
        // Only Fern, in Firefox, was online to hand it over: live means from her, peer to peer.
        const gusAddress = new URL(await fern.address(fernVerifiesGus.page));
        gusKeyPath = keyPathOf(api().sqlitePath, gusAddress.searchParams.get('group')!, gusAddress.searchParams.get('member')!);
        clock.mark(`key path: ${gusKeyPath}`);
        expect(gusKeyPath).toBe('live');

        await gusPanel.showNotes();
        await gusPanel.expectTitles([NOTE_ANA.title, NOTE_FERN.title, NOTE_AWAY.title]);
        const read = await gusPanel.openNote(NOTE_FERN.title);
        expect(read.body).toBe(NOTE_FERN.body);
        expect(read.meta).toContain(`by ${FERN}`);
        await artifacts.shot(gusPanel.page, 'chromium-gus-reads-after-firefox-handover');
      }),
    STEP_TIMEOUT,
  );

  it('8. Firefox printed no JavaScript error, and no Chromium page threw', () => {
    expect(fern.javaScriptErrors()).toEqual([]);
    expect(ana.pageErrors).toEqual([]);
    expect(gus.pageErrors).toEqual([]);
  });

  it('9. axe-core found no serious or critical accessibility violation on any Firefox screen (the rest: axe.txt in the artifacts)', () => {
    // Every kind of Firefox screen was checked: the popup, the side panel's page, the verification tab and Options.
    for (const page of ['/popup.html', '/sidepanel.html', '/verify.html', '/options.html']) {
      expect(axe.checks.some((c) => c.page.startsWith(page) && !c.sameAs && !c.error), page).toBe(true);
    }
    expect(axe.blocking()).toEqual([]);
  });
});
