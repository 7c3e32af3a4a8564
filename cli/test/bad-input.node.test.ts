/**
 * Bad input (issue 11): wrong passphrase, damaged key file, unreachable server, expired
 * invite, unknown group, mistyped code, missing passphrase — each a clear message, a
 * documented non-zero exit code (src/errors.ts, docs/CLI.md), no stack trace, and
 * nothing lost: every file of the state directory is byte for byte what it was.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';
import { replaceHeadWithUnsignedMember } from '../../e2e/support/tamper.ts';
import { EXIT } from '../src/errors.ts';
import { cliDevice, type CliDevice, type Ran } from './support/cli.ts';
import { snapshot } from './support/scan.ts';

let server: TestServer;
let ana: CliDevice;
let bob: CliDevice;

beforeAll(async () => {
  server = await startServer('sqlite');
  ana = cliDevice(server.url, 'ana passphrase here');
  bob = cliDevice(server.url, 'bob passphrase here');
  await ana.ok(['init', '--name', 'Ana']);
  await bob.ok(['init', '--name', 'Bob']);
  await ana.ok(['group', 'create', 'Club']);
  await ana.ok(['notes', 'put', 'Club', '--title', 'kept', '--body', 'still here']);
  // Two Argon2id derivations and a few syncs: seconds under a loaded `npm test`.
}, 120_000);
afterAll(async () => {
  await server?.close();
});

/** Argon2id parameters out of bounds: m = 2^32 used to exit 1 ("bug"), t = 10^7 to hang. */
function kdfDamages(good: Buffer): Array<[string, Buffer, number, RegExp]> {
  const file = JSON.parse(good.toString()) as { kdf: Record<string, unknown> };
  const withKdf = (change: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...file, kdf: { ...file.kdf, ...change } }));
  return [
    ['m = 2^32 KiB', withKdf({ m: 2 ** 32 }), EXIT.damaged, /is damaged/],
    ['m over 1 GiB', withKdf({ m: 1024 * 1024 + 1 }), EXIT.damaged, /is damaged/],
    ['t = 10^7 passes', withKdf({ t: 1e7 }), EXIT.damaged, /is damaged/],
    ['p = 5 lanes', withKdf({ p: 5 }), EXIT.damaged, /is damaged/],
    ['an 8-byte salt', withKdf({ salt: 'AAAAAAAAAAA' }), EXIT.damaged, /is damaged/],
  ];
}

function expectClean(ran: Ran, code: number, message: RegExp): void {
  expect(ran.code).toBe(code);
  expect(ran.err).toMatch(message);
  expect(ran.err).toMatch(/^conclave: /);
  expect(ran.err).not.toMatch(/\n\s+at /);
  expect(ran.out).toBe('');
}

/** Runs `failing`, checks what it said, and that no file of `device` changed. */
async function unchanged(device: CliDevice, failing: () => Promise<Ran>, code: number, message: RegExp): Promise<void> {
  const before = snapshot(device.home);
  expectClean(await failing(), code, message);
  expect(snapshot(device.home)).toEqual(before);
}

describe('bad input: a clear message, a documented exit code, nothing lost', { timeout: 120_000 }, () => {
  test('a wrong passphrase', async () => {
    await unchanged(ana, () => ana.run(['notes', 'ls', 'Club'], { env: { CONCLAVE_PASSPHRASE: 'not the passphrase' } }), EXIT.passphrase, /wrong passphrase.*Nothing was changed/);
    // And the right one still works.
    expect(await ana.ok(['notes', 'cat', 'Club', 'kept'])).toBe('still here\n');
  });

  test('no passphrase and no terminal', async () => {
    await unchanged(ana, () => ana.run(['group', 'list'], { env: { CONCLAVE_PASSPHRASE: undefined } }), EXIT.passphrase, /set CONCLAVE_PASSPHRASE/);
  });

  test('a damaged key file', async () => {
    const path = join(ana.home, 'identity.json');
    const good = readFileSync(path);
    const damages: Array<[string, Buffer, number, RegExp]> = [
      ['cut short', good.subarray(0, 100), EXIT.damaged, /the key file .* is damaged .*Nothing was changed/],
      ['not text', Buffer.from('\0\0garbage'), EXIT.damaged, /is damaged/],
      ['sealed part cut', Buffer.from(JSON.stringify({ ...JSON.parse(good.toString()), sealed: 'AAAA' })), EXIT.damaged, /is damaged/],
      ...kdfDamages(good),
      ['display name altered', Buffer.from(JSON.stringify({ ...JSON.parse(good.toString()), displayName: 'Mallory' })), EXIT.passphrase, /did not open with this passphrase \(or the file was altered\)/],
      ['sealed part altered', Buffer.from(good.toString().replace(/"sealed": "(.)/, (_m, c: string) => `"sealed": "${c === 'A' ? 'B' : 'A'}`)), EXIT.passphrase, /did not open with this passphrase/],
    ];
    try {
      for (const [what, damage, code, message] of damages) {
        writeFileSync(path, damage);
        await unchanged(ana, () => ana.run(['notes', 'ls', 'Club']), code, message).catch((error: Error) => {
          throw new Error(`${what}: ${error.message}`);
        });
      }
    } finally {
      writeFileSync(path, good);
    }
    expect(await ana.ok(['notes', 'cat', 'Club', 'kept'])).toBe('still here\n');
  });

  test('a damaged group file', async () => {
    const groups = join(ana.home, 'groups');
    const [file] = Object.keys(snapshot(groups));
    const good = readFileSync(file!);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1]! ^= 1;
    writeFileSync(file!, flipped);
    try {
      await unchanged(ana, () => ana.run(['notes', 'ls', 'Club']), EXIT.damaged, /damaged or from another key file\. Nothing was changed/);
    } finally {
      writeFileSync(file!, good);
    }
  });

  test('damaged notes, names, person, trust and settings files', async () => {
    await ana.ok(['notes', 'ls', 'Club']);
    const [notesFile] = Object.keys(snapshot(join(ana.home, 'notes')));
    const flip = (bytes: Buffer) => {
      const copy = Buffer.from(bytes);
      copy[copy.length - 1]! ^= 1;
      return copy;
    };
    const cases: Array<[string, string, (good: Buffer) => Buffer, RegExp]> = [
      ['notes file: null', notesFile!, () => Buffer.from('null'), /the notes file .* is damaged/],
      ['notes file: wrong shape', notesFile!, () => Buffer.from(JSON.stringify({ from: 'x', notes: [] })), /the notes file .* is damaged/],
      ['notes file: not JSON', notesFile!, () => Buffer.from('{'), /the notes file .* is damaged/],
      ['names file', join(ana.home, 'names.sealed'), flip, /the names file .* does not open/],
      ['settings file', join(ana.home, 'config.json'), () => Buffer.from('{"server": 42}'), /the settings file .* is damaged/],
    ];
    for (const [what, path, damage, message] of cases) {
      const good = readFileSync(path);
      writeFileSync(path, damage(good));
      try {
        await unchanged(ana, () => ana.run(['notes', 'ls', 'Club'], { env: { CONCLAVE_SERVER: undefined } }), EXIT.damaged, message).catch((error: Error) => {
          throw new Error(`${what}: ${error.message}`);
        });
      } finally {
        writeFileSync(path, good);
      }
    }
    // This device's person (its device list and pinned head): altered, or swapped for another sealed file.
    const person = join(ana.home, 'person.sealed');
    const goodPerson = readFileSync(person);
    for (const damaged of [flip(goodPerson), readFileSync(join(ana.home, 'names.sealed'))]) {
      writeFileSync(person, damaged);
      try {
        await unchanged(ana, () => ana.run(['devices']), EXIT.damaged, /the file of this device's person .* does not open/);
      } finally {
        writeFileSync(person, goodPerson);
      }
    }
    // A trust file that does not open (sealed under the store key since the review).
    await ana.ok(['notes', 'ls', 'Club']);
    const trust = join(ana.home, 'trust.sealed');
    writeFileSync(trust, Buffer.from('not sealed at all'));
    try {
      await unchanged(ana, () => ana.run(['notes', 'ls', 'Club']), EXIT.damaged, /the trust file .* does not open/);
    } finally {
      rmSync(trust);
    }
    expect(await ana.ok(['notes', 'cat', 'Club', 'kept'])).toBe('still here\n');
  });

  test('a server answer that fails verification: exit 9, nothing adopted', async () => {
    const { groups } = await ana.json<{ groups: Array<{ groupId: string }> }>(['group', 'list']);
    const forged = await replaceHeadWithUnsignedMember(join(server.dataDir!, 'conclave.sqlite'), groups[0]!.groupId);
    try {
      await unchanged(ana, () => ana.run(['group', 'list']), EXIT.integrity, /did not verify, so nothing was adopted/);
      await unchanged(ana, () => ana.run(['notes', 'ls', 'Club']), EXIT.integrity, /did not verify/);
    } finally {
      forged.undo();
    }
    expect(await ana.ok(['notes', 'cat', 'Club', 'kept'])).toBe('still here\n');
  });

  test('an empty note (no title, no text): refused, nothing written; an empty title takes the first line', async () => {
    const before = await ana.json<unknown[]>(['notes', 'ls', 'Club']);
    await unchanged(ana, () => ana.run(['notes', 'put', 'Club', '--title', '', '--body', '  \n ']), EXIT.usage, /this note is empty/);
    expect(await ana.json<unknown[]>(['notes', 'ls', 'Club'])).toEqual(before);
    const written = await ana.json<{ noteId: string }>(['notes', 'put', 'Club', '--title', '', '--body', '\nTide tables for May\nHigh water 06:12']);
    // A note id may start with '-': after '--' it is an operand.
    const read = await ana.json<{ title: string }>(['notes', 'cat', '--', 'Club', written.noteId]);
    expect(read.title).toBe('Tide tables for May');
  });

  test('an unreachable server', async () => {
    await unchanged(ana, () => ana.run(['notes', 'ls', 'Club'], { env: { CONCLAVE_SERVER: 'http://127.0.0.1:9' } }), EXIT.unreachable, /cannot reach the storage API at http:\/\/127\.0\.0\.1:9.*Nothing was changed/);
  });

  test('an expired invite', async () => {
    const invite = await ana.json<{ link: string }>(['group', 'invite', 'Club', '--expires', '1m']);
    const later = Date.now() + 5 * 60_000;
    await unchanged(bob, () => bob.run(['join', invite.link], { now: () => later }), EXIT.refused, /expired: ask for a new one/);
    expect(await bob.json<{ groups: unknown[] }>(['group', 'list'])).toEqual({ groups: [] });
  });

  test('a used invite', async () => {
    const invite = await ana.json<{ code: string }>(['group', 'invite', 'Club', '--prekeyed']);
    await bob.ok(['join', invite.code]);
    const carol = cliDevice(server.url, 'carol passphrase');
    await carol.ok(['init', '--name', 'Carol']);
    await unchanged(carol, () => carol.run(['join', invite.code]), EXIT.refused, /already been used/);
  });

  test('a mistyped invite code', async () => {
    const invite = await ana.json<{ code: string }>(['group', 'invite', 'Club']);
    const typo = invite.code.slice(0, -1) + (invite.code.endsWith('0') ? '1' : '0');
    await unchanged(bob, () => bob.run(['join', typo]), EXIT.refused, /typo/);
  });

  test('an unknown group, member and note', async () => {
    await ana.ok(['group', 'list']);
    await unchanged(ana, () => ana.run(['notes', 'ls', 'Nope']), EXIT.notFound, /no group "Nope" on this device: `conclave group list`/);
    await unchanged(ana, () => ana.run(['group', 'remove', 'Club', 'Zed', '--yes']), EXIT.notFound, /no member "Zed" in this group/);
    await unchanged(ana, () => ana.run(['notes', 'cat', 'Club', 'no such title']), EXIT.notFound, /no note "no such title"/);
  });

  test('not an admin, a declined confirmation, bad arguments', async () => {
    await ana.ok(['group', 'list']);
    await bob.ok(['group', 'list']);
    await unchanged(bob, () => bob.run(['group', 'invite', 'Club']), EXIT.refused, /only an admin/);
    await unchanged(ana, () => ana.run(['group', 'leave', 'Club'], { answers: ['n'] }), EXIT.cancelled, /cancelled: nothing was done/);
    await unchanged(ana, () => ana.run(['group', 'leave', 'Club']), EXIT.cancelled, /pass --yes/);
    await unchanged(ana, () => ana.run(['group', 'invite', 'Club', '--expires', 'soon']), EXIT.usage, /not a duration/);
    const unknown = await ana.run(['frobnicate']);
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.err).toMatch(/unknown command/);
    // Ids are base64url: one in 64 starts with '-', which the parser takes for an option.
    const dashed = await ana.run(['notes', 'cat', 'Club', '-qzI7U']);
    expect(dashed.code).toBe(EXIT.usage);
    expect(dashed.err).toMatch(/If -qzI7U is .* id, put -- before the group and note: conclave notes cat -- <group> -qzI7U/);
    expect((await ana.run(['notes', 'cat', '--', 'Club', '-qzI7U'])).err).toMatch(/no note/i);
    // A whole id (22 characters) cannot be one of our options: it is taken as the id it is, no -- needed.
    const wholeId = Buffer.from([0xf8, ...Array.from({ length: 15 }, (_, i) => i * 17)]).toString('base64url');
    expect(wholeId).toMatch(/^-[A-Za-z0-9_-]{21}$/);
    const asGroup = await ana.run(['group', 'members', wholeId, '--json']);
    expect(asGroup.err).not.toMatch(/unknown option/);
    expect(asGroup.err).toMatch(/no group/i);
    const asNote = await ana.run(['notes', 'cat', 'Club', wholeId]);
    expect(asNote.err).not.toMatch(/unknown option/);
    expect(asNote.err).toMatch(/no note with this id/);
    const asOption = await ana.run(['notes', 'put', 'Club', '--note', wholeId, '--body', 'x']);
    expect(asOption.err).not.toMatch(/unknown option|\u0001/);
    expect(asOption.err).toMatch(/no note|not found/i);
  });

  test('init twice, or a command before init', async () => {
    await unchanged(ana, () => ana.run(['init', '--name', 'Again']), EXIT.setup, /already has an identity/);
    const fresh = cliDevice(server.url, 'whatever passphrase');
    expectClean(await fresh.run(['group', 'list']), EXIT.setup, /run `conclave init` first/);
    expectClean(await fresh.run(['init', '--name', 'Shorty'], { env: { CONCLAVE_PASSPHRASE: 'short' } }), EXIT.passphrase, /at least 8 characters/);
  });
});
