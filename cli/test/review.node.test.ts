/**
 * Holes found by the review of the CLI (each test is named after what broke): a
 * verification recorded without comparing, secrets handed to the editor or typed on the
 * command line, unbounded key-file parameters, an unauthenticated trust file, escape
 * sequences from other members, meta notes overwritten, two processes on one directory.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';
import { deriveAtRestKeys, open, seal } from '../src/at-rest.ts';
import { Device } from '../src/device.ts';
import { readKeyFile, sealedWhat } from '../src/identity-file.ts';
import { fromBase64url, toBase64url } from '@conclave/shared/protocol';
import { EXIT } from '../src/errors.ts';
import { cliDevice, type CliDevice } from './support/cli.ts';
import { snapshot } from './support/scan.ts';

let server: TestServer;
let ana: CliDevice;
let bob: CliDevice;
let groupId = '';
let recoveryCode = '';
const fp: Record<string, string> = {};

beforeAll(async () => {
  server = await startServer('sqlite');
  ana = cliDevice(server.url, 'ana passphrase here');
  bob = cliDevice(server.url, 'bob passphrase here');
  fp.Ana = (await ana.json<{ fingerprint: string }>(['init', '--name', 'Ana'])).fingerprint;
  fp.Bob = (await bob.json<{ fingerprint: string }>(['init', '--name', 'Bob'])).fingerprint;
  ({ groupId, recoveryCode } = await ana.json<{ groupId: string; recoveryCode: string }>(['group', 'create', 'Club']));
}, 120_000);
afterAll(async () => {
  await server?.close();
});

describe.sequential('review holes', { timeout: 120_000 }, () => {
  test('--yes recorded a verification without comparing the safety number', async () => {
    const invite = await ana.json<{ code: string }>(['group', 'invite', 'Club']);
    await bob.ok(['join', invite.code]);
    const before = snapshot(ana.home);
    const ran = await ana.run(['--yes', 'verify', 'Club', fp.Bob!]);
    expect(ran.code).toBe(EXIT.usage);
    expect(ran.err).toMatch(/--yes does not apply to verify.*--number/s);
    expect(snapshot(ana.home)).toEqual(before);
    const members = await ana.json<{ members: Array<{ fingerprint: string; verified: boolean }> }>(['group', 'members', 'Club']);
    expect(members.members.find((m) => m.fingerprint === fp.Bob)?.verified).toBe(false);
    // The plainly named flag records (and hands the key over), without a terminal.
    const trusted = await ana.json<{ recorded: boolean; handedOver: Array<{ sent: string[] }> }>(['verify', 'Club', fp.Bob!, '--trust-without-comparing']);
    expect(trusted.recorded).toBe(true);
    expect(trusted.handedOver[0]?.sent).toEqual([fp.Bob]);
  });

  test('join and restore took their secret only on the command line (shell history, /proc/*/cmdline)', async () => {
    const carol = cliDevice(server.url, 'carol passphrase');
    await carol.ok(['init', '--name', 'Carol']);
    const invite = await ana.json<{ link: string }>(['group', 'invite', 'Club', '--prekeyed']);
    const joined = await carol.run(['join', '-', '--json'], { stdin: `${invite.link}\n` });
    expect(joined.code).toBe(0);
    expect(JSON.parse(joined.out)).toMatchObject({ groupId, hasKey: true });
    expect(joined.err).not.toMatch(/visible to other/);

    const dee = cliDevice(server.url, 'dee passphrase here');
    await dee.ok(['init', '--name', 'Dee']);
    const restored = await dee.run(['restore', '-', '--json'], { stdin: `${recoveryCode}\n` });
    expect(restored.code).toBe(0);
    expect(JSON.parse(restored.out)).toMatchObject({ groupId, hasKey: true });

    // From the environment, and from a hidden prompt on a terminal.
    const eve = cliDevice(server.url, 'eve passphrase here');
    await eve.ok(['init', '--name', 'Eve']);
    const second = await ana.json<{ code: string }>(['group', 'invite', 'Club', '--prekeyed']);
    expect(JSON.parse(await eve.ok(['join', '--json'], { env: { CONCLAVE_INVITE: second.code } }))).toMatchObject({ hasKey: true });
    const fay = cliDevice(server.url, 'fay passphrase here');
    await fay.ok(['init', '--name', 'Fay']);
    const third = await ana.json<{ code: string }>(['group', 'invite', 'Club', '--prekeyed']);
    expect(JSON.parse(await fay.ok(['join', '--json'], { answers: [third.code], env: { CONCLAVE_PASSPHRASE: 'fay passphrase here' } }))).toMatchObject({ hasKey: true });

    // The argument form still works, with a warning; nothing at all is a usage error.
    const gus = cliDevice(server.url, 'gus passphrase here');
    await gus.ok(['init', '--name', 'Gus']);
    const fourth = await ana.json<{ code: string }>(['group', 'invite', 'Club', '--prekeyed']);
    const typed = await gus.run(['join', fourth.code]);
    expect(typed.code).toBe(0);
    expect(typed.err).toMatch(/visible to other local users/);
    const none = await gus.run(['restore']);
    expect(none.code).toBe(EXIT.usage);
    expect(none.err).toMatch(/CONCLAVE_RECOVERY_CODE/);
    const body = await ana.run(['notes', 'put', 'Club', '--title', 't', '--body', 'b']);
    expect(body.err).toMatch(/visible to other local users/);
  });

  test('trust.json, which decides who gets the key, was neither sealed nor authenticated', async () => {
    // Ana verified Bob in the first test: the record is sealed, nothing in clear.
    expect(existsSync(join(ana.home, 'trust.json'))).toBe(false);
    const path = join(ana.home, 'trust.sealed');
    const good = readFileSync(path);
    expect(good.includes(Buffer.from(fp.Bob!))).toBe(false);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1]! ^= 1;
    writeFileSync(path, flipped);
    try {
      const before = snapshot(ana.home);
      const ran = await ana.run(['group', 'members', 'Club']);
      expect(ran.code).toBe(EXIT.damaged);
      expect(ran.err).toMatch(/the trust file .* does not open/);
      expect(snapshot(ana.home)).toEqual(before);
      // A planted clear file is not read: it cannot make anyone verified.
      writeFileSync(path, good);
      writeFileSync(join(ana.home, 'trust.json'), JSON.stringify({ verified: { [fp.Ana!]: { at: 1 } } }));
      const members = await ana.json<{ members: Array<{ fingerprint: string; verified: boolean }> }>(['group', 'members', 'Club']);
      expect(members.members.filter((m) => m.verified).map((m) => m.fingerprint)).toEqual([fp.Bob]);
    } finally {
      writeFileSync(path, good);
    }
  });

  test('two processes on one state directory overwrote each other’s group record', async () => {
    const before = await ana.json<{ groups: Array<{ generation: number }> }>(['group', 'list']);
    const start = before.groups[0]!.generation;
    // Real processes (the bin), started together.
    const [first, second, third] = await Promise.all([ana.spawn(['group', 'rotate', 'Club']), ana.spawn(['group', 'rotate', 'Club']), ana.spawn(['notes', 'put', 'Club', '--title', 'beside'], { stdin: 'written beside two rotations' })]);
    expect([first.code, second.code, third.code], `${first.err}${second.err}${third.err}`).toEqual([0, 0, 0]);
    const after = await ana.json<{ groups: Array<{ generation: number; holdsKey: boolean }> }>(['group', 'list', '--offline']);
    expect(after.groups[0]).toMatchObject({ generation: start + 2, holdsKey: true });
    await ana.ok(['notes', 'put', 'Club', '--title', 'after'], { stdin: 'after the rotations' });
    expect(await ana.ok(['notes', 'cat', 'Club', 'beside'])).toBe('written beside two rotations\n');
    expect(existsSync(join(ana.home, 'lock'))).toBe(false);
  });

  test('a command waits for the lock of a running process and takes over a stale one', async () => {
    const lock = join(ana.home, 'lock');
    // A pid that is not running (a process killed with -9): stale, taken over.
    const gone = spawn('true');
    await new Promise((resolve) => gone.once('exit', resolve));
    writeFileSync(lock, `${gone.pid}\n`);
    expect(await ana.ok(['notes', 'cat', 'Club', 'beside'])).toBe('written beside two rotations\n');
    expect(existsSync(lock)).toBe(false);
    // A running owner: the command waits until it lets go.
    const owner = spawn('sleep', ['60']);
    try {
      writeFileSync(lock, `${owner.pid}\n`);
      let finished = false;
      const waiting = ana.run(['notes', 'put', 'Club', '--title', 'waited'], { stdin: 'after the lock' }).then((ran) => {
        finished = true;
        return ran;
      });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(finished).toBe(false);
      rmSync(lock);
      const ran = await waiting;
      expect(ran.code, ran.err).toBe(0);
      expect(ran.err).toMatch(new RegExp(`Waiting for another conclave process \\(pid ${owner.pid}\\)`));
    } finally {
      owner.kill();
    }
    expect(existsSync(lock)).toBe(false);
  });

  test('rename asked for the passphrase twice', async () => {
    // One answer on the "terminal": a second question would get nothing and fail.
    const ran = await bob.run(['rename', 'Robert'], { env: { CONCLAVE_PASSPHRASE: undefined }, answers: ['bob passphrase here'] });
    expect(ran.code, ran.err).toBe(0);
    expect(ran.out).toMatch(/Your name is now "Robert"/);
    expect((await bob.json<{ displayName: string }>(['whoami'])).displayName).toBe('Robert');
  });

  test('titles and names from other members reached the terminal with escape sequences', async () => {
    const evil = '\x1b[2J\x9b2J';
    // (A joiner without generation 0 cannot publish its name: Ana's own stands in for one.)
    await ana.ok(['rename', `Ana${evil}`]);
    const { noteId } = JSON.parse(await bob.ok(['notes', 'put', '--json', '--title', `Title${evil}`, '--', groupId], { stdin: `line one${evil}\nline two\n` })) as { noteId: string };
    const ls = await ana.run(['notes', 'ls', 'Club']);
    const members = await ana.run(['group', 'members', 'Club']);
    const cat = await ana.run(['notes', 'cat', 'Club', '--', noteId]);
    const rm = await ana.run(['notes', 'rm', 'Club', '--', noteId], { answers: ['n'] });
    for (const ran of [members, ls, cat, rm]) expect(`${ran.out}${ran.err}${ran.questions?.join('')}`).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(members.out).toMatch(/Ana\[2J2J/);
    expect(ls.out).toMatch(/Title\[2J2J/);
    expect(cat.out).toBe('line one[2J2J\nline two\n\n');
    expect(rm.questions?.join('')).toMatch(/Delete "Title\[2J2J"/);
    // JSON keeps the text as it is (escaped by JSON itself).
    expect((JSON.parse(await ana.ok(['notes', 'cat', '--json', 'Club', '--', noteId])) as { title: string }).title).toBe(`Title${evil}`);
  });

  test('the plaintext of a note being edited survived Ctrl-C in tmp/edit-*', async () => {
    const tmp = join(ana.home, 'tmp');
    const gone = spawn('true');
    await new Promise((resolve) => gone.once('exit', resolve));
    const owner = spawn('sleep', ['60']);
    try {
      const leftovers = [join(tmp, 'edit-Ab12Cd'), join(tmp, `edit-${gone.pid}-Ab12Cd`)];
      const running = join(tmp, `edit-${owner.pid}-Xy34Zw`);
      for (const dir of [...leftovers, running]) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'note.md'), 'plaintext left behind');
      }
      await ana.ok(['notes', 'ls', 'Club']);
      for (const dir of leftovers) expect(existsSync(dir), dir).toBe(false);
      // An editor that still runs (another process) keeps its file.
      expect(existsSync(join(running, 'note.md'))).toBe(true);
    } finally {
      owner.kill();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('notes rm, put --note and --batch overwrote meta notes (group name, profiles)', async () => {
    const unlocked = await Device.unlock({ io: { out: () => {}, err: () => {}, env: ana.env, readStdin: async () => '', askSecret: null, ask: null, runEditor: async () => 1 }, global: { home: ana.home }, now: Date.now });
    const meta = [...(await (await unlocked.client()).metaNotes(groupId as never)).keys()];
    expect(meta.length).toBeGreaterThan(0);
    const before = snapshot(ana.home);
    for (const metaId of meta) {
      for (const [args, stdin] of [
        // (An id may start with "-": `--` and `--note=` keep it an argument.)
        [['notes', 'rm', '--yes', 'Club', '--', metaId], ''],
        [['notes', 'put', 'Club', `--note=${metaId}`, '--title', 'x'], 'overwritten'],
        [['notes', 'put', 'Club', '--batch'], `${JSON.stringify({ note: metaId, body: 'overwritten' })}\n`],
        [['notes', 'edit', 'Club', '--', metaId], ''],
      ] as const) {
        const ran = await ana.run([...args], { stdin, env: { EDITOR: 'true' } });
        expect(ran.code, `${args.join(' ')}: ${ran.err}`).toBe(EXIT.refused);
        expect(ran.err).toMatch(/keeps the group's name or a member's profile/);
      }
    }
    expect(snapshot(ana.home)).toEqual(before);
    expect((await ana.json<{ groups: Array<{ name: string }> }>(['group', 'list'])).groups[0]?.name).toBe('Club');
  });

  test('the key file did not bind its display name and Argon2id parameters; a /1 file still opens and is sealed again', async () => {
    const path = join(ana.home, 'identity.json');
    const file = readKeyFile(path);
    expect(file.format).toBe('conclave-cli-identity/2');
    const keys = await deriveAtRestKeys(ana.env.CONCLAVE_PASSPHRASE!, file.kdf, fromBase64url(file.kdf.salt));
    const seeds = await open(keys.identity, sealedWhat(file), fromBase64url(file.sealed));
    const v1 = { ...file, format: 'conclave-cli-identity/1', sealed: toBase64url(await seal(keys.identity, `conclave-cli-identity/1|${file.fingerprint}`, seeds)) };
    writeFileSync(path, JSON.stringify(v1));
    await ana.ok(['group', 'list', '--offline']);
    const upgraded = readKeyFile(path);
    expect(upgraded.format).toBe('conclave-cli-identity/2');
    expect(await open(keys.identity, sealedWhat(upgraded), fromBase64url(upgraded.sealed))).toEqual(seeds);
    // Renamed from /2: the name in clear matches the one bound.
    await ana.ok(['rename', 'Ana']);
    expect(readKeyFile(path).displayName).toBe('Ana');
    writeFileSync(path, JSON.stringify({ ...readKeyFile(path), displayName: 'Mallory' }));
    expect((await ana.run(['whoami'])).code).toBe(0);
    expect((await ana.run(['group', 'list', '--offline'])).code).toBe(EXIT.passphrase);
    writeFileSync(path, JSON.stringify({ ...readKeyFile(path), displayName: 'Ana' }));
    await ana.ok(['group', 'list', '--offline']);
  });

  test('join --wait was checked only after the invite was used up', async () => {
    const hal = cliDevice(server.url, 'hal passphrase here');
    await hal.ok(['init', '--name', 'Hal']);
    const invite = await ana.json<{ code: string }>(['group', 'invite', 'Club', '--prekeyed']);
    const bad = await hal.run(['join', '--wait', 'soon', '-'], { stdin: invite.code });
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toMatch(/--wait takes a number of seconds/);
    expect(JSON.parse(await hal.ok(['join', '-', '--json'], { stdin: invite.code }))).toMatchObject({ hasKey: true });
  });

  test('export made a directory it did not create 0700, and a file as target was a bug', async () => {
    const mine = mkdtempSync(join(tmpdir(), 'conclave-export-target-'));
    chmodSync(mine, 0o755);
    await ana.ok(['export', 'Club', mine]);
    expect((statSync(mine).mode & 0o777).toString(8)).toBe('755');
    const made = join(mine, 'new', 'deeper');
    await ana.ok(['export', 'Club', made]);
    for (const dir of [join(mine, 'new'), made]) expect((statSync(dir).mode & 0o777).toString(8)).toBe('700');
    const file = join(mine, 'a-file');
    writeFileSync(file, 'not a directory');
    const ran = await ana.run(['export', 'Club', file]);
    expect(ran.code, ran.err).toBe(EXIT.usage);
    expect(ran.err).toMatch(/is a file, not a directory/);
    expect(readFileSync(file, 'utf8')).toBe('not a directory');
  });

  test('Ctrl-C at the passphrase prompt was reported as a bug', async () => {
    const ran = await ana.run(['group', 'list'], { env: { CONCLAVE_PASSPHRASE: undefined }, answers: [], interrupt: true });
    expect(ran.code).toBe(EXIT.cancelled);
    expect(ran.err).toMatch(/cancelled: nothing was done/);
  });

  test('a batch said "nothing was changed" after writing its first notes', async () => {
    const missing = 'AAAAAAAAAAAAAAAAAAAAAA';
    const batch = [{ title: 'batch one', body: 'first' }, { note: missing, body: 'x' }, { title: 'batch three', body: 'third' }].map((l) => JSON.stringify(l)).join('\n');
    const ran = await ana.run(['notes', 'put', 'Club', '--batch'], { stdin: batch });
    expect(ran.code).not.toBe(0);
    expect(ran.out.trim().split('\n')).toHaveLength(1);
    expect(ran.err).toMatch(/line 2 of the batch failed: 1 of 3 notes were written \(printed on stdout\), none after it/);
    expect(ran.err).not.toMatch(/[Nn]othing was (changed|written)/);
    // A line that does not parse: every line is read before any write.
    const bad = await ana.run(['notes', 'put', 'Club', '--batch'], { stdin: `${JSON.stringify({ title: 'never', body: 'x' })}\n{oops` });
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.out).toBe('');
    expect(bad.err).toMatch(/line 2 of the batch is not .*: no line was written/);
  });
});
