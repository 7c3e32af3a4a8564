/**
 * The seed's story by three command-line devices (issue 11), against a real storage API
 * over HTTP: Ana creates a group; Bob joins by the mailbox (verified both ways, then
 * Ana's device hands him the key), Cleo by a pre-keyed invite; notes go both ways
 * (put, cat, edit in $EDITOR, rm); Ana removes Cleo with a new key and Cleo reads
 * nothing written after; a fresh device restores the group from the recovery code;
 * Bob exports the notes as Markdown. Then a scan: no passphrase, seed, recovery code,
 * invite secret or note text in clear in any state directory or in the server's
 * database file.
 */
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';
import { fromBase64url } from '@conclave/shared/protocol';
import { deriveAtRestKeys, open } from '../src/at-rest.ts';
import { Device } from '../src/device.ts';
import { readKeyFile, sealedWhat } from '../src/identity-file.ts';
import { stateDir } from '../src/files.ts';
import { cliDevice, newHome, type CliDevice } from './support/cli.ts';
import { filesUnder, findSecrets } from './support/scan.ts';

const PASS = { ana: 'ana: correct horse battery', bob: 'bob: staple paperclip moon', cleo: 'cleo: seven lanterns', dee: 'dee: the new laptop 42' };
const TEXT = {
  bobTitle: 'Groceries from Bob',
  bobBody: 'oat milk, rye bread, 12 eggs — Bob’s list',
  anaTitle: 'Holiday plans by Ana',
  anaBody: 'Lisbon in May; book the train before Friday',
  cleoEdit: 'Cleo added: bring the blue umbrella',
  afterTitle: 'After Cleo left',
  afterBody: 'the new door code is 4711-secret-after-removal',
};

let server: TestServer;
let ana: CliDevice, bob: CliDevice, cleo: CliDevice, dee: CliDevice;
let groupId = '';
let recoveryCode = '';
const recoveryCodes: string[] = [];
const inviteCodes: string[] = [];
let exportDir = '';
const fp: Record<string, string> = {};

beforeAll(async () => {
  server = await startServer('sqlite');
  ana = cliDevice(server.url, PASS.ana);
  bob = cliDevice(server.url, PASS.bob);
  cleo = cliDevice(server.url, PASS.cleo);
  dee = cliDevice(server.url, PASS.dee);
});
afterAll(async () => {
  await server?.close();
});

interface NotesJson {
  notes: Array<{ noteId: string; title: string | null; version: number; authorName: string | null; deleted: boolean }>;
}

// Under a loaded `npm test` the Argon2id derivations and syncs take seconds each.
describe.sequential('the seed story, three CLI devices', { timeout: 120_000 }, () => {
  test('each device makes its identity; whoami shows the fingerprint without the passphrase', async () => {
    for (const [name, device] of [['Ana', ana], ['Bob', bob], ['Cleo', cleo], ['Dee', dee]] as const) {
      const made = await device.json<{ fingerprint: string }>(['init', '--name', name]);
      const who = await device.json<{ fingerprint: string; displayName: string }>(['whoami'], { env: { CONCLAVE_PASSPHRASE: undefined } });
      expect(who).toMatchObject({ fingerprint: made.fingerprint, displayName: name });
      fp[name] = made.fingerprint;
    }
  });

  test('Ana creates the group and gets its recovery code once', async () => {
    const created = await ana.json<{ groupId: string; recoveryCode: string; name: string }>(['group', 'create', 'Family']);
    expect(created.name).toBe('Family');
    expect(created.recoveryCode).toMatch(/^REC1-/);
    ({ groupId, recoveryCode } = created);
    const listed = await ana.json<{ groups: Array<{ name: string; role: string; holdsKey: boolean }> }>(['group', 'list']);
    expect(listed.groups).toEqual([expect.objectContaining({ groupId, name: 'Family', role: 'admin', holdsKey: true, members: 1 })]);
  });

  test('Bob joins by the mailbox: both verify, and Ana’s verification hands him the key', async () => {
    const invite = await ana.json<{ link: string; code: string; prekeyed: boolean }>(['group', 'invite', 'Family', '--expires', '1d']);
    expect(invite.link).toMatch(/^conclave:join\/INV1-.*\?from=Ana$/);
    inviteCodes.push(invite.code);
    const joined = await bob.json<{ groupId: string; hasKey: boolean }>(['join', invite.link]);
    expect(joined).toMatchObject({ groupId, hasKey: false });

    // Bob compares the number Ana's screen shows (typed in with --number).
    const shownToAna = await ana.json<{ safetyNumber: string; recorded: boolean }>(['verify', 'Family', fp.Bob!]);
    expect(shownToAna.recorded).toBe(false);
    const bobSide = await bob.json<{ safetyNumber: string; recorded: boolean }>(['verify', '--number', shownToAna.safetyNumber, '--', groupId.slice(0, 6), fp.Ana!.slice(0, 10)]);
    expect(bobSide).toMatchObject({ safetyNumber: shownToAna.safetyNumber, recorded: true });

    // A wrong number is refused and records nothing.
    const wrong = shownToAna.safetyNumber.replace(/^\d/, (d) => String((Number(d) + 1) % 10));
    const refused = await cleo.run(['verify', '--number', wrong, '--', groupId, fp.Ana!]);
    expect(refused.code).not.toBe(0);

    // Ana confirms on her terminal: the key goes to Bob at once.
    const anaSide = await ana.run(['verify', 'Family', fp.Bob!], { answers: ['y'] });
    expect(anaSide.code).toBe(0);
    expect(anaSide.out).toContain('Handed the key to');
    const bobGroups = await bob.json<{ groups: Array<{ name: string; holdsKey: boolean }> }>(['group', 'list']);
    expect(bobGroups.groups).toEqual([expect.objectContaining({ groupId, name: 'Family', holdsKey: true, role: 'member' })]);
  });

  test('Cleo joins with a pre-keyed invite and reads at once', async () => {
    const invite = await ana.json<{ code: string }>(['group', 'invite', 'Family', '--prekeyed']);
    inviteCodes.push(invite.code);
    const joined = await cleo.json<{ hasKey: boolean; via: string; name: string }>(['join', invite.code]);
    expect(joined).toMatchObject({ hasKey: true, via: 'invite', name: 'Family' });
    const members = await ana.json<{ members: Array<{ name: string | null; role: string; verified: boolean }> }>(['group', 'members', 'Family']);
    expect(members.members.map((m) => [m.name, m.role]).sort()).toEqual([['Ana', 'admin'], ['Bob', 'member'], ['Cleo', 'member']]);
  });

  test('notes go both ways: put, cat, edit in $EDITOR, rm', async () => {
    const bobNote = await bob.json<{ noteId: string; version: number }>(['notes', 'put', 'Family', '--title', TEXT.bobTitle], { stdin: TEXT.bobBody });
    expect(bobNote.version).toBe(1);
    expect(await ana.ok(['notes', 'cat', 'Family', TEXT.bobTitle])).toBe(`${TEXT.bobBody}\n`);
    // A second version from a file; the first stays readable.
    const bodyFile = join(bob.home, 'tmp-body.txt');
    writeFileSync(bodyFile, `${TEXT.bobBody}, and coffee`);
    const second = await bob.json<{ version: number }>(['notes', 'put', 'Family', '--note', bobNote.noteId, '--file', bodyFile]);
    rmSync(bodyFile);
    expect(second.version).toBe(2);
    expect(await ana.json<{ title: string; body: string }>(['notes', 'cat', 'Family', TEXT.bobTitle])).toMatchObject({ title: TEXT.bobTitle, body: `${TEXT.bobBody}, and coffee` });
    expect(await ana.ok(['notes', 'cat', '--version', '1', '--', 'Family', bobNote.noteId.slice(0, 5)])).toBe(`${TEXT.bobBody}\n`);

    const anaNote = await ana.json<{ noteId: string }>(['notes', 'put', 'Family', '--title', TEXT.anaTitle, '--body', TEXT.anaBody]);
    const read = await bob.json<{ title: string; body: string; authorName: string }>(['notes', 'cat', '--', 'Family', anaNote.noteId.slice(0, 6)]);
    expect(read).toMatchObject({ title: TEXT.anaTitle, body: TEXT.anaBody, authorName: 'Ana' });

    // Cleo edits Ana's note in her editor.
    const edited = await cleo.json<{ version: number; changed: boolean }>(['notes', 'edit', 'Family', TEXT.anaTitle], {
      env: { EDITOR: 'my-editor' },
      editor: async (file) => {
        const text = readFileSync(file, 'utf8');
        expect(text).toBe(`${TEXT.anaTitle}\n\n${TEXT.anaBody}`);
        writeFileSync(file, `${text}\n${TEXT.cleoEdit}\n`);
        return 0;
      },
    });
    expect(edited).toMatchObject({ version: 2, changed: true });
    expect(readdirSync(join(cleo.home, 'tmp'))).toEqual([]);
    const afterEdit = await ana.json<{ body: string; version: number; authorName: string }>(['notes', 'cat', 'Family', TEXT.anaTitle]);
    expect(afterEdit).toMatchObject({ version: 2, authorName: 'Cleo' });
    expect(afterEdit.body).toContain(TEXT.cleoEdit);

    // A throwaway note, deleted by its author.
    const scrap = await bob.json<{ noteId: string }>(['notes', 'put', 'Family', '--title', 'scrap', '--body', 'x']);
    await bob.ok(['notes', 'rm', '--yes', '--', 'Family', scrap.noteId]);
    const listed = await ana.json<NotesJson>(['notes', 'ls', 'Family']);
    expect(listed.notes.map((n) => n.title).sort()).toEqual([TEXT.bobTitle, TEXT.anaTitle].sort());
    const withDeleted = await ana.json<NotesJson>(['notes', 'ls', 'Family', '--deleted']);
    expect(withDeleted.notes.find((n) => n.noteId === scrap.noteId)?.deleted).toBe(true);
  });

  test('Ana removes Cleo with a new key: Cleo reads nothing written after', async () => {
    const removed = await ana.run(['group', 'remove', 'Family', 'Cleo', '--json'], { answers: ['y'] });
    expect(removed.code).toBe(0);
    expect(removed.err).toMatch(/making a new key/);
    const result = JSON.parse(removed.out) as { generation: number; removed: string };
    expect(result).toMatchObject({ generation: 1, removed: fp.Cleo });

    const after = await ana.json<{ noteId: string }>(['notes', 'put', 'Family', '--title', TEXT.afterTitle, '--body', TEXT.afterBody]);
    expect(await bob.ok(['notes', 'cat', '--', 'Family', after.noteId])).toContain(TEXT.afterBody);

    const cleoList = await cleo.run(['notes', 'ls', '--json', '--', groupId]);
    expect(cleoList.out + cleoList.err).not.toContain(TEXT.afterTitle);
    const cleoCat = await cleo.run(['notes', 'cat', '--', groupId, after.noteId]);
    expect(cleoCat.code).not.toBe(0);
    expect(cleoCat.out + cleoCat.err).not.toContain(TEXT.afterBody);
    const cleoGroups = await cleo.json<{ groups: Array<{ role: string }> }>(['group', 'list']);
    expect(cleoGroups.groups[0]!.role).toBe('not a member');
  });

  test('a fresh device restores the group from the recovery code and reads everything', async () => {
    const restored = await dee.json<{ groupId: string; name: string; hasKey: boolean }>(['restore', recoveryCode]);
    expect(restored).toMatchObject({ groupId, name: 'Family', hasKey: true });
    expect(await dee.ok(['notes', 'cat', 'Family', TEXT.afterTitle])).toContain(TEXT.afterBody);
    expect(await dee.ok(['notes', 'cat', 'Family', TEXT.bobTitle])).toContain(TEXT.bobBody);
    const members = await dee.json<{ members: Array<{ name: string | null; role: string; me: boolean }> }>(['group', 'members', 'Family']);
    expect(members.members.find((m) => m.me)?.role).toBe('admin');
    // The restored admin can rotate (progress on stderr).
    const rotated = await dee.run(['group', 'rotate', 'Family']);
    expect(rotated.code).toBe(0);
    expect(rotated.err).toMatch(/Done: key generation 2/);
    // The used code is replaced: the old one stops working, the new one is shown once.
    const replaced = await dee.json<{ recoveryCode: string }>(['group', 'recovery', 'Family', '--yes']);
    expect(replaced.recoveryCode).toMatch(/^REC1-/);
    recoveryCodes.push(replaced.recoveryCode);
    const late = cliDevice(server.url, 'late passphrase 1');
    await late.ok(['init', '--name', 'Late']);
    const refused = await late.run(['restore', recoveryCode]);
    expect(refused.code).toBe(8);
    expect(refused.err).toMatch(/replaced by a newer one/);
  });

  test('Bob exports the notes as Markdown files with their metadata', async () => {
    exportDir = join(newHome('conclave-export-'), 'family');
    const ran = await bob.run(['export', 'Family', exportDir, '--json']);
    expect(ran.code).toBe(0);
    expect(ran.err).toMatch(/exporting 3\/3/);
    const result = JSON.parse(ran.out) as { files: Array<{ file: string; title: string }> };
    expect(result.files.map((f) => f.title).sort()).toEqual([TEXT.afterTitle, TEXT.anaTitle, TEXT.bobTitle].sort());
    const files = readdirSync(exportDir).sort();
    expect(files).toHaveLength(3);
    const holiday = readFileSync(join(exportDir, files.find((f) => f.startsWith('holiday-plans-by-ana--'))!), 'utf8');
    expect(holiday).toMatch(/^---\ntitle: "Holiday plans by Ana"\nnote_id: [A-Za-z0-9_-]{22}\nversion: 2\ngroup: "Family"\n/);
    expect(holiday).toContain(`author: "Cleo"\nauthor_fingerprint: ${fp.Cleo}\n`);
    expect(holiday).toMatch(/written_at: \d{4}-\d\d-\d\dT/);
    expect(holiday).toContain(`---\n\n${TEXT.anaBody}\n${TEXT.cleoEdit}\n`);
    // The export refuses to write into a directory that is not empty.
    expect((await bob.run(['export', 'Family', exportDir])).code).toBe(2);
  });

  test('no secret lies in clear in the state directories or the server database', async () => {
    // The seeds each device holds, read back through its own (sealed) store.
    const seeds: Record<string, Uint8Array> = {};
    for (const [name, device] of Object.entries({ ana, bob, dee })) {
      const unlocked = await Device.unlock({ io: { out: () => {}, err: () => {}, env: device.env, readStdin: async () => '', askSecret: null, ask: null, runEditor: async () => 1 }, global: { home: stateDir(undefined, device.env) }, now: Date.now });
      const record = await unlocked.store.load(groupId as never);
      for (const [generation, seed] of record!.seeds) seeds[`${name}'s seed ${generation}`] = seed;
    }
    expect(Object.keys(seeds).length).toBeGreaterThanOrEqual(3);
    // And each device's private keys (the 64 bytes sealed in its key file).
    for (const [name, device] of Object.entries({ ana, bob, cleo, dee })) {
      const file = readKeyFile(join(device.home, 'identity.json'));
      const keys = await deriveAtRestKeys(device.env.CONCLAVE_PASSPHRASE!, file.kdf, fromBase64url(file.kdf.salt));
      const privateSeeds = await open(keys.identity, sealedWhat(file), fromBase64url(file.sealed));
      seeds[`${name}'s sign key`] = privateSeeds.slice(0, 32);
      seeds[`${name}'s box key`] = privateSeeds.slice(32);
    }
    const secrets: Record<string, string | Uint8Array> = {
      ...Object.fromEntries(Object.entries(PASS).map(([k, v]) => [`passphrase of ${k}`, v])),
      'recovery code': recoveryCode,
      ...Object.fromEntries(recoveryCodes.map((c, i) => [`new recovery code ${i}`, c])),
      ...Object.fromEntries(inviteCodes.map((c, i) => [`invite code ${i}`, c])),
      ...Object.fromEntries(Object.entries(TEXT).map(([k, v]) => [`note text ${k}`, v])),
      'group name': 'Family',
      ...seeds,
    };
    const stateFiles = [ana, bob, cleo, dee].flatMap((d) => filesUnder(d.home));
    expect(stateFiles.some((f) => f.endsWith('.sealed'))).toBe(true);
    expect(findSecrets(stateFiles, secrets)).toEqual([]);

    await server.stop();
    const dbFiles = filesUnder(server.dataDir!);
    expect(dbFiles.some((f) => f.endsWith('conclave.sqlite'))).toBe(true);
    expect(findSecrets(dbFiles, secrets)).toEqual([]);
  });
});
