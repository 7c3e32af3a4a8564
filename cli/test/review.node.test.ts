/**
 * Holes found by the review of the CLI (each test is named after what broke): a
 * verification recorded without comparing, secrets handed to the editor or typed on the
 * command line, unbounded key-file parameters, an unauthenticated trust file, escape
 * sequences from other members, meta notes overwritten, two processes on one directory.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';
import { EXIT } from '../src/errors.ts';
import { cliDevice, type CliDevice } from './support/cli.ts';
import { snapshot } from './support/scan.ts';

let server: TestServer;
let ana: CliDevice;
let bob: CliDevice;
let groupId = '';
const fp: Record<string, string> = {};

beforeAll(async () => {
  server = await startServer('sqlite');
  ana = cliDevice(server.url, 'ana passphrase here');
  bob = cliDevice(server.url, 'bob passphrase here');
  fp.Ana = (await ana.json<{ fingerprint: string }>(['init', '--name', 'Ana'])).fingerprint;
  fp.Bob = (await bob.json<{ fingerprint: string }>(['init', '--name', 'Bob'])).fingerprint;
  groupId = (await ana.json<{ groupId: string }>(['group', 'create', 'Club'])).groupId;
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
});
