/**
 * One person, several devices, end to end in real Chromium (issue 13): the built
 * extension in one browser profile per device, a real storage API on a SQLite file, a
 * real signaling server, and the `conclave` command as a real process.
 *
 *   1. Ana sets up her first browser (A1): two groups with a note each. Ben joins one
 *      with a pre-keyed invite and reads; he notes Ana's safety number.
 *   2. A fresh profile (A2) asks to be linked: A1 scans a picture of its QR code,
 *      compares the fingerprint and links it. A2 takes Ana's name and reads both groups
 *      at once.
 *   3. Ben sees one Ana with two devices, and the same safety number as before.
 *   4. A third profile (A3) is linked by its typed code, from A2, and reads.
 *   5. From A2, Ana removes A1 (lost): every group gets a new key; Ben writes a note that
 *      A2 reads, and no key box of the new generation is addressed to A1.
 *   6. A command-line device is linked to Ana by its typed code and reads and writes her
 *      groups; A2 sees what it wrote.
 *   7. No page of the extension threw an uncaught error.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevicesPage } from './pages/devices.ts';
import { PanelPage } from './pages/panel.ts';
import { PopupPage } from './pages/popup.ts';
import { Artifacts, StepClock } from './support/artifacts.ts';
import { AxeAudit } from './support/axe.ts';
import { CliDevice, disposeAllCli } from './support/cli.ts';
import { builtExtensionDir, Client, disposeAll } from './support/clients.ts';
import { stopAtFirstFailure } from './support/steps.ts';
import { startSystem, type System } from './support/system.ts';

const STEP_TIMEOUT = 240_000;
const CLI_TIMEOUT = 90_000;

const ANA = 'Anastasia Quillfeather';
const BEN = 'Benedikt Marrowgate';
const HARBOUR = 'Harbour Watch';
const GARDEN = 'Garden Club';
const HARBOUR_NOTE = { title: 'Tide tables for the March equinox', body: 'High water at 06:12.' };
const GARDEN_NOTE = { title: 'Seed swap list', body: 'Runner beans, two kinds of kale, marigolds.' };
const AFTER_LOSS = { title: 'After the laptop was lost', body: 'The boathouse padlock code changed to 7-4-1-7-9.' };
const FROM_CLI = { title: 'Written from the terminal', body: 'Same person, a fourth device.' };

describe('One person, several devices: link by QR and by code, remove a lost one, a CLI of the same person', () => {
  let system: System | undefined;
  const artifacts = new Artifacts();
  const clock = new StepClock();
  // Every screen the page objects arrive on, and every page screenshotted, is checked with axe-core.
  const axe = new AxeAudit(artifacts);
  artifacts.beforeShot = (page, name) => axe.check(page, name);
  let a1: Client, a2: Client, a3: Client, ben: Client;
  let cli: CliDevice;
  let a1Short = '';
  let benSafety: string[] = [];
  let a2Devices: DevicesPage;
  let benPanel: PanelPage;

  const api = () => system!;

  beforeAll(async () => {
    builtExtensionDir();
    system = await startSystem();
    [a1, a2, a3, ben] = await Promise.all([
      Client.create('Ana, first browser (A1)', { axe }),
      Client.create('Ana, second browser (A2)', { axe }),
      Client.create('Ana, third browser (A3)', { axe }),
      Client.create('Ben', { axe }),
    ]);
    cli = await CliDevice.create('Ana, command line', 'correct horse battery staple devices');
  }, 60_000);

  afterAll(async () => {
    try {
      if (cli) cli.saveTranscript(artifacts.file('cli-transcript.txt'));
    } catch {
      // The transcript is for people; its absence fails nothing.
    }
    try {
      await disposeAllCli();
      await disposeAll();
    } finally {
      await system?.dispose();
    }
    console.log(['', 'Conclave e2e devices — summary', clock.summary(), axe.summary(), `screenshots: ${artifacts.dir} (${artifacts.shots.size}); axe-core findings: ${axe.write()}`, ''].join('\n'));
  }, 60_000);

  stopAtFirstFailure(artifacts, () => [a1, a2, a3, ben]);

  /** Opens a device's browser on the run's servers. */
  const start = async (client: Client) => {
    await client.launch();
    await (await client.useServers(api().apiUrl, api().signalingUrl)).close();
  };

  it(
    '1. Ana (A1) has two groups with a note each; Ben joins one and reads, and notes her safety number',
    () =>
      clock.run('1. A1 groups, Ben joins', async () => {
        await Promise.all([start(a1), start(ben)]);
        const anaPopup = await PopupPage.open(a1);
        a1Short = await anaPopup.setUp(ANA);
        for (const [group, note] of [
          [HARBOUR, HARBOUR_NOTE],
          [GARDEN, GARDEN_NOTE],
        ] as const) {
          await anaPopup.reopen();
          await anaPopup.createGroup(group, 'invite-trust');
          await anaPopup.confirmRecoverySaved();
          const panel = await PanelPage.open(a1, group);
          await panel.writeNote(note.title, note.body);
          await panel.close();
        }
        await anaPopup.reopen();
        const invite = await anaPopup.invite(HARBOUR, { prekeyed: true });
        await anaPopup.done();

        const benPopup = await PopupPage.open(ben);
        await benPopup.setUp(BEN);
        await benPopup.join(invite.link);
        benPanel = await PanelPage.open(ben, HARBOUR);
        await benPanel.expectTitles([HARBOUR_NOTE.title]);
        const verify = await benPanel.openVerify(ANA);
        benSafety = await verify.safetyNumber();
        await verify.close();
      }),
    STEP_TIMEOUT,
  );

  it(
    '2. A2 is linked by a picture of its QR code: A1 compares the fingerprint, and A2 takes Ana’s name and reads both groups at once',
    () =>
      clock.run('2. link A2 by QR', async () => {
        await start(a2);
        a2Devices = await DevicesPage.open(a2);
        await a2Devices.offerLink();
        const shown = await a2Devices.waitingFingerprint();
        const qr = await artifacts.shot(a2Devices.linkQr(), 'a2-link-qr');
        await artifacts.shot(a2Devices.page, 'a2-link-offer');

        const a1Devices = await DevicesPage.open(a1);
        await a1Devices.scanImage(qr);
        expect(await a1Devices.fingerprintToConfirm()).toBe(shown);
        await artifacts.shot(a1Devices.page, 'a1-link-confirm');
        await a1Devices.confirmLink();
        const handed = await a1Devices.expectLinkReport();
        expect(handed).toHaveLength(2);
        for (const line of handed) expect(line).toMatch(/key handed over\.$/);
        await artifacts.shot(a1Devices.page, 'a1-link-report');

        const groups = await a2Devices.expectLinked(ANA);
        expect(groups.sort()).toEqual([`${GARDEN}: readable now.`, `${HARBOUR}: readable now.`]);
        // The options page's own name field follows: the device took Ana's name.
        await expect.poll(() => a2Devices.page.getByLabel('Your name, as your groups see it').inputValue(), { timeout: 15_000 }).toBe(ANA);
        await artifacts.shot(a2Devices.page, 'a2-linked');
        await a2Devices.finishLinked();
        for (const [group, note] of [
          [HARBOUR, HARBOUR_NOTE],
          [GARDEN, GARDEN_NOTE],
        ] as const) {
          const panel = await PanelPage.open(a2, group);
          await panel.expectTitles([note.title]);
          expect((await panel.openNote(note.title)).body).toBe(note.body);
          await panel.backToNotes();
          await panel.close();
        }
        const popup = await PopupPage.open(a2);
        await popup.page.getByText(`This device: ${ANA}`).waitFor({ timeout: 15_000 });
        await popup.close();
        await a1Devices.page.close();
      }),
    STEP_TIMEOUT,
  );

  it(
    '3. Ben sees one Ana with two devices, and the same safety number as before',
    () =>
      clock.run('3. Ben sees one person', async () => {
        await benPanel.showMembers();
        await expect.poll(() => benPanel.member(ANA).getByTestId('member-devices').textContent(), { timeout: 30_000 }).toBe('2 devices');
        const people = await benPanel.memberLines();
        expect(people.filter((line) => line.includes(ANA))).toHaveLength(1);
        await artifacts.shot(benPanel.page, 'ben-members-two-devices');
        const verify = await benPanel.openVerify(ANA);
        expect(await verify.safetyNumber()).toEqual(benSafety);
        await verify.close();
      }),
    STEP_TIMEOUT,
  );

  it(
    '4. A3 is linked by its typed code, from A2, and reads',
    () =>
      clock.run('4. link A3 by code', async () => {
        await start(a3);
        const a3Devices = await DevicesPage.open(a3);
        await a3Devices.offerLink();
        const shown = await a3Devices.waitingFingerprint();
        const code = await a3Devices.linkCode();
        expect(code).toMatch(/^LNK1-/);

        await a2Devices.typeCode(code);
        expect(await a2Devices.fingerprintToConfirm()).toBe(shown);
        await a2Devices.confirmLink();
        await a2Devices.expectLinkReport();
        await a2Devices.finishLink();

        await a3Devices.expectLinked(ANA);
        await a3Devices.finishLinked();
        const panel = await PanelPage.open(a3, HARBOUR);
        await panel.expectTitles([HARBOUR_NOTE.title]);
        await panel.close();
      }),
    STEP_TIMEOUT,
  );

  it(
    '5. From A2, Ana removes A1: every group gets a new key; Ben’s next note reaches A2, and no box of the new key is for A1',
    () =>
      clock.run('5. remove A1', async () => {
        await a2Devices.page.reload();
        const before = await a2Devices.devices();
        expect(before).toHaveLength(3);
        expect(before.filter((d) => d.thisDevice)).toHaveLength(1);
        const report = await a2Devices.removeDevice(a1Short);
        expect(report).toHaveLength(2);
        for (const line of report) expect(line).toMatch(/new key/);
        await artifacts.shot(a2Devices.page, 'a2-device-removed');
        await a2Devices.page.reload();
        expect(await a2Devices.devices()).toHaveLength(2);

        await benPanel.showNotes();
        await benPanel.writeNote(AFTER_LOSS.title, AFTER_LOSS.body);
        const a2Panel = await PanelPage.open(a2, HARBOUR);
        await a2Panel.expectTitles([HARBOUR_NOTE.title, AFTER_LOSS.title]);
        expect((await a2Panel.openNote(AFTER_LOSS.title)).body).toBe(AFTER_LOSS.body);
        await a2Panel.backToNotes();
        await a2Panel.close();

        // The server's own record: the newest generation of each group has boxes, none addressed to A1.
        const db = new Database(api().sqlitePath, { readonly: true, fileMustExist: true });
        try {
          const rows = db.prepare('SELECT group_id AS g, generation AS gen, recipient_id AS r FROM key_boxes').all() as Array<{ g: string; gen: number; r: string }>;
          const groups = new Set(rows.map((row) => row.g));
          expect(groups.size).toBe(2);
          for (const group of groups) {
            const newest = Math.max(...rows.filter((row) => row.g === group).map((row) => row.gen));
            expect(newest).toBeGreaterThan(0);
            const recipients = rows.filter((row) => row.g === group && row.gen === newest).map((row) => row.r);
            expect(recipients.length).toBeGreaterThan(0);
            expect(recipients.some((r) => r.startsWith(a1Short))).toBe(false);
          }
        } finally {
          db.close();
        }
      }),
    STEP_TIMEOUT,
  );

  it(
    '6. A command-line device is linked to Ana by its typed code, from A2; it reads her groups and writes a note A2 reads',
    () =>
      clock.run('6. link a CLI', async () => {
        // A fresh CLI device: an identity of its own, not yet anyone (linking gives it Ana's name).
        await cli.ok(['--server', api().apiUrl, 'init', '--name', 'Terminal'], { timeoutMs: CLI_TIMEOUT });
        const linking = cli.start(['--server', api().apiUrl, '--signal', api().signalingUrl, 'devices', 'link', '--json', '--for', '120'], { timeoutMs: 150_000 });
        const offer = JSON.parse(await linking.stdoutLine((line) => line.includes('"offer"'), CLI_TIMEOUT)) as { code: string; device: string };
        expect(offer.code).toMatch(/^LNK1-/);
        await a2Devices.page.reload();
        await a2Devices.typeCode(offer.code);
        expect(offer.device.startsWith(await a2Devices.fingerprintToConfirm())).toBe(true);
        await a2Devices.confirmLink();
        await a2Devices.expectLinkReport();
        const run = await linking.done;
        expect(run.code, run.stderr).toBe(0);
        const mine = await cli.json<{ name: string | null; devices: Array<{ fingerprint: string; thisDevice: boolean; removed: unknown }> }>(['devices'], { timeoutMs: CLI_TIMEOUT });
        expect(mine.name).toBe(ANA);
        expect(mine.devices.filter((d) => d.thisDevice).map((d) => d.fingerprint)).toEqual([offer.device]);
        // A2, A3 and this one; A1 is listed as removed.
        expect(mine.devices.filter((d) => d.removed === null)).toHaveLength(3);

        const { notes } = await cli.json<{ notes: Array<{ title: string }> }>(['notes', 'ls', HARBOUR], { timeoutMs: CLI_TIMEOUT });
        expect(notes.map((n) => n.title).sort()).toEqual([AFTER_LOSS.title, HARBOUR_NOTE.title].sort());
        await cli.ok(['notes', 'put', GARDEN, '--title', FROM_CLI.title], { input: FROM_CLI.body, timeoutMs: CLI_TIMEOUT });
        const panel = await PanelPage.open(a2, GARDEN);
        await panel.expectTitles([GARDEN_NOTE.title, FROM_CLI.title]);
        expect((await panel.openNote(FROM_CLI.title)).body).toBe(FROM_CLI.body);
      }),
    STEP_TIMEOUT,
  );

  it('7. no page of the extension threw an uncaught error', () => {
    const errors = [a1, a2, a3, ben].flatMap((c) => c.pageErrors.map((e) => `${c.label}: ${e}`));
    expect(errors).toEqual([]);
  });

  it('8. axe-core found no serious or critical accessibility violation on any screen (the rest: axe.txt in the artifacts)', () => {
    expect(axe.checks.some((c) => c.page.startsWith('/options.html') && !c.sameAs && !c.error)).toBe(true);
    expect(axe.blocking()).toEqual([]);
  });
});
