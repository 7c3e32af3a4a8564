/**
 * Interop in real Chromium (issue 11): an extension member and a command-line member in
 * one group. The built extension (.output/chrome-mv3) runs in a Chromium profile; the
 * `conclave` command runs as a real process (`node cli/bin/conclave.js …`, its own
 * CONCLAVE_HOME, its passphrase in CONCLAVE_PASSPHRASE, e2e/support/cli.ts); a real
 * storage API on a SQLite file and a real signaling server listen on loopback. Nothing
 * is mocked and nothing is imported from cli/src: the extension is driven through its
 * screens (the page objects of e2e/pages/), the CLI through its arguments, output and
 * exit codes.
 *
 *   1. Ana (extension) creates her identity and a group (verified people only) and
 *      writes two notes.
 *   2. Ana makes an invite and copies its code from the popup; the CLI device runs
 *      `init` and `join -` with the code piped in (`join <code>` works too, with a
 *      warning that other local users see the arguments): it is a member, waiting for
 *      the key.
 *   3. They verify each other: Ana opens the CLI member's verification tab, the CLI runs
 *      `verify <group> <Ana's fingerprint>`; the 60 digits read from the tab and from
 *      the CLI's output are the same. Ana types the number the CLI printed (her
 *      extension checks it against its own) and, as an admin holding the key, seals the
 *      key to the mailbox; the CLI runs `verify … --number <the digits on Ana's screen>`
 *      (the CLI checks them against its own) and records Ana verified. The key reaches
 *      the CLI THROUGH THE MAILBOX: the CLI joined without --live and has no signaling
 *      server, and the API log shows Ana's boxes.post after her verification and the
 *      CLI's boxes.mine when `group list` picks the key up.
 *   4. The CLI lists Ana's notes and reads them: titles and bodies equal, author Ana.
 *   5. The CLI writes a note; Ana's side panel shows it (title, body, "by <the CLI
 *      member's name>"), and her members list names the CLI member, verified.
 *   6. Live: Ana creates a second group, trusted by invite link, and invites the CLI;
 *      the CLI runs `join --live` with the signaling server's address, and the key comes
 *      PEER TO PEER from Ana's extension (Node WebRTC, @roamhq/wrtc), not from the
 *      mailbox (the CLI fetched no box).
 *   7. The storage API's database files and request log and the signaling log hold none
 *      of the note plaintexts, the names, the invite codes or their secrets, the
 *      recovery codes, or the CLI's passphrase (the fingerprints, which must be there,
 *      are found: the scan can fail). The CLI's home holds the passphrase nowhere either.
 *   8. No page of the extension threw an uncaught error.
 *
 * The extension notices what the CLI changes (its note, its profile) by itself: the
 * storage API's live events reach the open side panel; nothing here starts a sync.
 *
 * Screenshots and the CLI's transcript (every command, exit code, output and time) go
 * to artifacts/e2e-<timestamp>/. Browsers, CLI processes and servers are stopped in
 * afterAll, whatever failed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSecretCode } from '@conclave/shared/crypto';
import { bytesNeedles, filesIn, findAll, textNeedles, type Haystack, type Needle } from '../storage-api/test/support/scan.ts';
import { PanelPage } from './pages/panel.ts';
import { PopupPage, type InviteShown } from './pages/popup.ts';
import type { VerifyPage } from './pages/verify.ts';
import { Artifacts, StepClock } from './support/artifacts.ts';
import { stopAtFirstFailure } from './support/steps.ts';
import { CliDevice, disposeAllCli, safetyNumberIn } from './support/cli.ts';
import { builtExtensionDir, Client, disposeAll } from './support/clients.ts';
import { startSystem, type System } from './support/system.ts';

const STEP_TIMEOUT = 180_000;
/** Any one CLI command (a join or a verification does an Argon2id unlock and a few requests). */
const CLI_TIMEOUT = 60_000;

const ANA = 'Anastasia Quillfeather';
const CLI_NAME = 'Bartholomew Cinderwick';
const GROUP = 'Observatory Night Shift';
const LIVE_GROUP = 'Radio Telescope Rota';
const PASSPHRASE = 'correct horse battery staple for the observatory 7391';

interface NoteText {
  title: string;
  body: string;
}
const NOTE_1: NoteText = { title: 'Telescope calibration log', body: 'Collimated the 14-inch at 21:40; the secondary mirror drifts 2 mm west in the cold.' };
const NOTE_2: NoteText = { title: 'Dome shutter quirks', body: 'Lift the shutter by hand past the halfway notch, then the motor takes over. The spare fuse is taped under the desk.' };
const NOTE_3: NoteText = { title: 'Comet sighting, written from the terminal', body: 'Faint coma near Perseus at 02:15, magnitude about 9; photographed on plate 47.' };

describe('Conclave interop: an extension member and a CLI member in one group, real Chromium, real servers', () => {
  let system: System | undefined;
  const artifacts = new Artifacts();
  const clock = new StepClock();

  let ana: Client;
  let cli: CliDevice;
  let anaPopup: PopupPage;
  let anaPanel: PanelPage;
  let recoveryCode = '';
  let invite: InviteShown;
  let liveInvite: InviteShown | undefined;
  let liveRecoveryCode = '';
  /** The CLI device's fingerprint (from `whoami`) and Ana's (found by the CLI among the members). */
  let cliFingerprint = '';
  let anaFingerprint = '';
  let safetyDigits = '';
  let groupId = '';
  const written: NoteText[] = [];

  const api = () => system!;

  beforeAll(async () => {
    builtExtensionDir();
    system = await startSystem();
    ana = await Client.create('Ana (extension)');
    cli = await CliDevice.create('CLI member', PASSPHRASE);
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
    const errors = ana ? ana.pageErrors.map((e) => `${ana.label}: ${e}`) : [];
    console.log(
      [
        '',
        'Conclave e2e interop (extension + CLI) — summary',
        clock.summary(),
        `CLI commands: ${cli?.transcript.length ?? 0}, ${((cli?.transcript.reduce((n, r) => n + r.ms, 0) ?? 0) / 1000).toFixed(1)} s in all`,
        `screenshots and CLI transcript: ${artifacts.dir}`,
        safetyDigits ? `safety number (extension = CLI): ${safetyDigits.match(/\d{5}/g)!.join(' ')}` : 'safety number: not reached',
        errors.length ? `uncaught page errors:\n  ${errors.join('\n  ')}` : 'uncaught page errors: none',
        '',
      ].join('\n'),
    );
  }, 60_000);

  stopAtFirstFailure(artifacts, () => [ana]);

  /** A CLI command that must succeed: its standard output. */
  const conclave = (args: string[]) => cli.ok(args, { timeoutMs: CLI_TIMEOUT });

  it(
    '1. Ana (extension) creates her identity and a group (verified people only) and writes two notes',
    () =>
      clock.run('1. Ana: identity, group, two notes', async () => {
        await ana.launch();
        await ana.useServers(api().apiUrl, api().signalingUrl);
        anaPopup = await PopupPage.open(ana);
        await anaPopup.setUp(ANA);
        recoveryCode = await anaPopup.createGroup(GROUP, 'verified');
        await anaPopup.confirmRecoverySaved();
        await anaPopup.groupRow(GROUP).getByText('Admin', { exact: true }).waitFor();
        anaPanel = await PanelPage.open(ana, GROUP);
        for (const note of [NOTE_1, NOTE_2]) {
          await anaPanel.writeNote(note.title, note.body);
          written.push(note);
          await anaPanel.backToNotes();
        }
        await anaPanel.expectTitles([NOTE_1.title, NOTE_2.title]);
        await artifacts.shot(anaPanel.page, 'ana-panel-notes');
      }),
    STEP_TIMEOUT,
  );

  it(
    '2. Ana copies an invite code from the popup; the CLI runs `init` and `join` with it: a member, waiting for the key',
    () =>
      clock.run('2. CLI init and join', async () => {
        await anaPopup.reopen();
        invite = await anaPopup.invite(GROUP);
        await artifacts.shot(anaPopup.page, 'ana-popup-invite');
        await anaPopup.done();

        const init = await conclave(['--server', api().apiUrl, 'init', '--name', CLI_NAME]);
        clock.mark('CLI: init');
        const who = await cli.json<{ fingerprint: string; displayName: string }>(['whoami']);
        cliFingerprint = who.fingerprint;
        expect(cliFingerprint).toMatch(/^[a-z2-7]{52}$/);
        expect(who.displayName).toBe(CLI_NAME);
        expect(init.replace(/\s+/g, '')).toContain(cliFingerprint);

        // The code as copied from the popup, piped in (`join -`: the CLI's advice, so that
        // other local users do not see it among the process's arguments).
        const logBeforeJoin = api().apiLog().length;
        const joined = await cli.json<{ groupId: string; hasKey: boolean; via: string | null }>(['join', '-'], { input: `${invite.code}\n` });
        clock.mark('CLI: join');
        expect(api().apiLog().slice(logBeforeJoin)).toContain('mailbox.request');
        groupId = joined.groupId;
        expect(groupId).toMatch(/^[A-Za-z0-9_-]{22}$/);
        // Nobody has verified the CLI yet, in a group of verified people only: it waits, its request in the mailbox.
        expect(joined.hasKey).toBe(false);
        expect(joined.via).toBeNull();
        const { groups } = await cli.json<{ groups: Array<{ groupId: string; holdsKey: boolean; role: string; members: number }> }>(['group', 'list']);
        expect(groups).toEqual([expect.objectContaining({ groupId, holdsKey: false, role: 'member', members: 2 })]);

        // Ana sees the CLI device as a member waiting for the key (by its fingerprint: its
        // name is in its encrypted profile, which it can write only once it holds the key),
        // in her open panel, without a reload.
        await anaPanel.showMembers();
        await anaPanel.memberWithFingerprint(cliFingerprint.slice(0, 16)).getByText('Waiting for the key').waitFor({ timeout: 20_000 });
        await artifacts.shot(anaPanel.page, 'ana-members-cli-waiting');
      }),
    STEP_TIMEOUT,
  );

  it(
    '3. Both show the same safety number; each checks the other’s digits; the key reaches the CLI through the mailbox',
    () =>
      clock.run('3. Verification both ways, key by mailbox', async () => {
        // The CLI finds Ana among the members by the short fingerprint her popup shows.
        const anaShort = await anaPopup.fingerprint();
        const { members } = await cli.json<{ members: Array<{ fingerprint: string; name: string | null; me: boolean; verified: boolean }> }>(['group', 'members', groupId]);
        expect(members).toHaveLength(2);
        const anaRow = members.find((m) => m.fingerprint.startsWith(anaShort));
        expect(anaRow, `Ana (${anaShort}…) among the CLI's members: ${JSON.stringify(members)}`).toBeDefined();
        expect(anaRow!.verified).toBe(false);
        anaFingerprint = anaRow!.fingerprint;

        // Ana opens the CLI member's verification tab: the 60 digits on her screen.
        const row = anaPanel.memberWithFingerprint(cliFingerprint.slice(0, 16));
        const anaVerifiesCli: VerifyPage = await anaPanel.openVerifyIn(row);
        expect(new URL(anaVerifiesCli.page.url()).searchParams.get('member')).toBe(cliFingerprint);
        const onScreen = await anaVerifiesCli.safetyNumber();
        expect(onScreen).toHaveLength(12);
        for (const group of onScreen) expect(group).toMatch(/^\d{5}$/);
        await artifacts.shot(anaVerifiesCli.page, 'ana-verify-cli');

        // The CLI shows its number for Ana (and records nothing yet).
        const shown = await conclave(['verify', '--', groupId, anaFingerprint]);
        const printed = safetyNumberIn(shown);
        expect(printed, `a safety number in the CLI's output:\n${shown}`).not.toBeNull();
        expect(printed).toEqual(onScreen);
        safetyDigits = onScreen.join('');
        clock.mark('extension and CLI show the same safety number');

        // Ana types the number the CLI printed: the extension checks it against its own and
        // marks the CLI verified; as an admin holding the key, it seals the key to the mailbox.
        const logBefore = api().apiLog().length;
        await anaVerifiesCli.typeNumber(printed!.join(' '));
        await anaVerifiesCli.expectVerified();
        await artifacts.shot(anaVerifiesCli.page, 'ana-verified-cli');
        await expect.poll(() => api().apiLog().slice(logBefore), { timeout: 15_000 }).toContain('boxes.post');
        clock.mark('Ana typed the CLI’s number: verified, key sealed to the mailbox');

        // The CLI types the number read from Ana's screen: the CLI checks it and records Ana verified.
        const confirmed = await cli.json<{ member: string; safetyNumber: string; verified: boolean; recorded: boolean }>(['verify', '--number', onScreen.join(' '), '--', groupId, anaFingerprint]);
        expect(confirmed).toMatchObject({ member: anaFingerprint, safetyNumber: safetyDigits, verified: true, recorded: true });
        clock.mark('the CLI typed Ana’s number: verified');

        // The key, from the mailbox: `group list` picks it up (and learns the group's name).
        const logBeforeFetch = api().apiLog().length;
        const { groups } = await cli.json<{ groups: Array<{ groupId: string; name: string | null; holdsKey: boolean }> }>(['group', 'list']);
        expect(groups).toEqual([expect.objectContaining({ groupId, name: GROUP, holdsKey: true })]);
        expect(api().apiLog().slice(logBeforeFetch)).toContain('boxes.mine');
        // No live path: the CLI was given no signaling server (no --signal, no CONCLAVE_SIGNAL) and joined without --live.
        expect(cli.transcript.every((run) => !run.args.includes('--live') && !run.args.includes('--signal'))).toBe(true);
        clock.mark('CLI holds the key (mailbox)');
        const { members: after } = await cli.json<{ members: Array<{ fingerprint: string; name: string | null; verified: boolean }> }>(['group', 'members', GROUP]);
        expect(after.find((m) => m.fingerprint === anaFingerprint)).toMatchObject({ name: ANA, verified: true });
        await anaVerifiesCli.close();
      }),
    STEP_TIMEOUT,
  );

  it(
    "4. The CLI lists and reads Ana's notes: titles and bodies equal, author Ana",
    () =>
      clock.run('4. CLI reads the notes', async () => {
        const { notes } = await cli.json<{ notes: Array<{ noteId: string; ok: boolean; title: string; author: string; authorName: string | null }> }>(['notes', 'ls', GROUP]);
        expect(notes.map((n) => n.title).sort()).toEqual([NOTE_1.title, NOTE_2.title].sort());
        for (const listed of notes) expect(listed).toMatchObject({ ok: true, author: anaFingerprint, authorName: ANA });
        for (const note of [NOTE_1, NOTE_2]) {
          const read = await cli.json<{ title: string; body: string; author: string; authorName: string | null; warnings: string[] }>(['notes', 'cat', GROUP, note.title]);
          expect(read).toMatchObject({ title: note.title, body: note.body, author: anaFingerprint, authorName: ANA, warnings: [] });
        }
        // And as plain text, as a person reads it: the body, as written.
        expect((await conclave(['notes', 'cat', GROUP, NOTE_1.title])).trimEnd()).toBe(NOTE_1.body);
      }),
    STEP_TIMEOUT,
  );

  it(
    '5. The CLI writes a note; Ana’s side panel shows it, by the CLI member’s name, and names the CLI member verified',
    () =>
      clock.run('5. CLI writes, the side panel shows it', async () => {
        // The body on standard input, as a script pipes it.
        const saved = await cli.json<{ noteId: string; version: number }>(['notes', 'put', GROUP, '--title', NOTE_3.title], { input: NOTE_3.body });
        expect(saved.version).toBe(1);
        written.push(NOTE_3);
        clock.mark('CLI: notes put');
        const { notes } = await cli.json<{ notes: Array<{ title: string }> }>(['notes', 'ls', GROUP]);
        expect(notes.map((n) => n.title).sort()).toEqual([NOTE_1.title, NOTE_2.title, NOTE_3.title].sort());

        // Ana's open panel shows it by itself (a live event).
        await anaPanel.showNotes();
        await anaPanel.expectTitles([NOTE_1.title, NOTE_2.title, NOTE_3.title]);
        const read = await anaPanel.openNote(NOTE_3.title);
        expect(read.body).toBe(NOTE_3.body);
        expect(read.meta).toContain(`by ${CLI_NAME}`);
        expect(read.meta).toContain('Verified');
        await artifacts.shot(anaPanel.page, 'ana-reads-cli-note');
        clock.mark('the side panel shows the CLI’s note');
        await anaPanel.backToNotes();
        await anaPanel.showMembers();
        expect(await anaPanel.trustOf(CLI_NAME)).toBe('Verified');
        await artifacts.shot(anaPanel.page, 'ana-members-cli-named');
      }),
    STEP_TIMEOUT,
  );

  it(
    '6. Live: in a second group (trusted by invite link), the CLI joins with --live and the key comes peer to peer from Ana’s extension',
    () =>
      clock.run('6. Live key, extension to CLI', async () => {
        await anaPopup.reopen();
        liveRecoveryCode = await anaPopup.createGroup(LIVE_GROUP, 'invite-trust');
        await anaPopup.confirmRecoverySaved();
        liveInvite = await anaPopup.invite(LIVE_GROUP);
        await anaPopup.done();
        // Ana's browser stays open: her extension is online on the signaling server.
        const logBefore = api().apiLog().length;
        // The CLI's own wait for a peer is 20 s; the command gets more, for loading Node WebRTC on a busy machine.
        // This time the whole link, piped in (the CLI takes a link or a code).
        const joined = await cli.json<{ groupId: string; hasKey: boolean; via: string | null; name: string | null }>(['--signal', api().signalingUrl, 'join', '--live', '-'], {
          input: `${liveInvite.link}\n`,
          timeoutMs: 120_000,
        });
        expect(joined).toMatchObject({ hasKey: true, via: 'peer', name: LIVE_GROUP });
        expect(cli.transcript.at(-1)!.stderr).toContain('Received the key live.');
        // Not from the mailbox: the CLI fetched no box (its one boxes.post is the box it
        // seals to itself after a live handover, which also closes its mailbox request).
        const during = api().apiLog().slice(logBefore);
        expect(during).toContain('mailbox.request');
        expect(during).not.toContain('boxes.mine');
        clock.mark('CLI: key received live from Ana');
        const { notes } = await cli.json<{ notes: unknown[] }>(['notes', 'ls', LIVE_GROUP]);
        expect(notes).toEqual([]);
      }),
    STEP_TIMEOUT,
  );

  it(
    '7. The server never saw a note, a name, the invite, the recovery code or the passphrase: its database files, request log and signaling log',
    () =>
      clock.run('7. Byte scan of the server', async () => {
        const needles: Needle[] = [];
        for (const note of written) needles.push(...textNeedles(`title "${note.title}"`, note.title), ...textNeedles(`body of "${note.title}"`, note.body));
        for (const name of [ANA, CLI_NAME]) needles.push(...textNeedles(`display name ${name}`, name));
        needles.push(...textNeedles('group name', GROUP), ...textNeedles('second group name', LIVE_GROUP));
        for (const [what, shown] of [['invite', invite], ['live invite', liveInvite!]] as const) {
          needles.push(...textNeedles(`${what} link`, shown.link), ...textNeedles(`${what} code`, shown.code), ...textNeedles(`${what} code (compact)`, shown.code.replace(/-/g, '')));
          needles.push(...bytesNeedles(`${what} secret`, parseSecretCode('invite', shown.code).secret));
        }
        for (const [what, code] of [['recovery code', recoveryCode], ['second recovery code', liveRecoveryCode]] as const) {
          needles.push(...textNeedles(what, code), ...bytesNeedles(`${what} secret`, parseSecretCode('recovery', code).secret));
        }
        needles.push(...textNeedles('CLI passphrase', PASSPHRASE));
        expect(written).toHaveLength(3);

        const scan = (): { found: string[]; haystacks: Haystack[] } => {
          const haystacks: Haystack[] = [
            ...filesIn(api().dataDir),
            { where: 'storage API request log', bytes: Buffer.from(api().apiLog(), 'utf8') },
            { where: 'signaling server log', bytes: Buffer.from(api().signalingLog(), 'utf8') },
          ];
          return { found: findAll(needles, haystacks), haystacks };
        };
        const running = scan();
        expect(running.haystacks.map((h) => h.where)).toContain('file conclave.sqlite');
        expect(running.found).toEqual([]);
        // The positive control: both devices' fingerprints are stored (the scan can fail).
        const control = findAll(
          [
            { what: "Ana's fingerprint", bytes: Buffer.from(anaFingerprint) },
            { what: "the CLI's fingerprint", bytes: Buffer.from(cliFingerprint) },
          ],
          running.haystacks,
        );
        expect(control.some((hit) => hit.startsWith("Ana's fingerprint in file"))).toBe(true);
        expect(control.some((hit) => hit.startsWith("the CLI's fingerprint in file"))).toBe(true);
        expect(api().apiLog()).toContain('notes.put');

        // After the API stopped (the WAL folded into the database file).
        await api().stop();
        const stopped = scan();
        expect(stopped.found).toEqual([]);

        // The CLI's own files never hold its passphrase (its key file holds the keys sealed under it).
        const home = filesIn(cli.home);
        expect(home.length).toBeGreaterThan(0);
        expect(findAll(textNeedles('CLI passphrase', PASSPHRASE), home)).toEqual([]);
        const bytes = stopped.haystacks.reduce((n, h) => n + h.bytes.length, 0);
        console.log(`scanned ${running.haystacks.length} + ${stopped.haystacks.length} server haystacks (${(bytes / 1024).toFixed(0)} KiB after stopping) for ${needles.length} needles, and ${home.length} CLI files for the passphrase: none found; ${control.length} fingerprint hits`);
      }),
    STEP_TIMEOUT,
  );

  it('8. no page of the extension threw an uncaught error', () => {
    expect(ana.pageErrors).toEqual([]);
  });
});
