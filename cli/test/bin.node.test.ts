/**
 * The real `conclave` bin in child processes (`node cli/bin/conclave.js …`): exit codes
 * reach the shell, --help works everywhere, errors carry no stack trace, and what the
 * CLI writes is mode 0600 in directories of mode 0700.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type TestServer } from '../../storage-api/test/support/server.ts';
import { EXIT } from '../src/errors.ts';
import { cliDevice, type CliDevice } from './support/cli.ts';
import { filesUnder, modeOf } from './support/scan.ts';

let server: TestServer;
let dev: CliDevice;

beforeAll(async () => {
  server = await startServer('sqlite');
  dev = cliDevice(server.url, 'process passphrase');
});
afterAll(async () => {
  await server?.close();
});

// Each process loads the TypeScript sources through tsx: seconds each on a busy machine.
describe.sequential('the conclave bin', { timeout: 180_000 }, () => {
  test('init, create, put and ls as real processes; files 0600, directories 0700', async () => {
    const init = await dev.spawn(['init', '--name', 'Proc', '--json']);
    expect(init.code).toBe(0);
    expect(JSON.parse(init.out).fingerprint).toMatch(/^[a-z2-7]{52}$/);
    const created = await dev.spawn(['group', 'create', 'Ops', '--json']);
    expect(created.code).toBe(0);
    const put = await dev.spawn(['notes', 'put', 'Ops', '--title', 'from a pipe'], { stdin: 'hello from stdin\n' });
    expect(put.code).toBe(0);
    const ls = await dev.spawn(['notes', 'ls', 'Ops', '--json']);
    expect(JSON.parse(ls.out).notes.map((n: { title: string }) => n.title)).toEqual(['from a pipe']);

    const files = filesUnder(dev.home);
    expect(files.map((f) => f.slice(dev.home.length + 1)).sort()).toEqual(expect.arrayContaining(['config.json', 'identity.json', 'names.sealed', expect.stringMatching(/^groups\/.*\.sealed$/), expect.stringMatching(/^notes\/.*\.json$/)]));
    for (const file of files) expect([file, modeOf(file).toString(8)]).toEqual([file, '600']);
    for (const dir of [dev.home, join(dev.home, 'groups'), join(dev.home, 'notes')]) expect([dir, modeOf(dir).toString(8)]).toEqual([dir, '700']);
  });

  test('exit codes reach the shell, without a stack trace', async () => {
    const wrong = await dev.spawn(['notes', 'ls', 'Ops'], { env: { CONCLAVE_PASSPHRASE: 'wrong passphrase!' } });
    expect(wrong.code).toBe(EXIT.passphrase);
    expect(wrong.err).toMatch(/^conclave: wrong passphrase/);
    const unknown = await dev.spawn(['notes', 'ls', 'Nothing']);
    expect(unknown.code).toBe(EXIT.notFound);
    const down = await dev.spawn(['group', 'list'], { env: { CONCLAVE_SERVER: 'http://127.0.0.1:9' } });
    expect(down.code).toBe(EXIT.unreachable);
    const usage = await dev.spawn(['notes', 'frob']);
    expect(usage.code).toBe(EXIT.usage);
    for (const ran of [wrong, unknown, down, usage]) expect(ran.err).not.toMatch(/\n\s+at /);
  });

  test('--help everywhere (the bin once, then every command in process)', async () => {
    const bin = await dev.spawn(['--help']);
    expect(bin.code).toBe(0);
    expect(bin.out).toMatch(/^Usage: conclave/);
    const commands = [[], ['init'], ['whoami'], ['rename'], ['group'], ...['create', 'list', 'members', 'invite', 'remove', 'rotate', 'leave', 'handover', 'recovery'].map((c) => ['group', c]), ['join'], ['verify'], ['notes'], ...['ls', 'cat', 'put', 'edit', 'rm'].map((c) => ['notes', c]), ['export'], ['restore'], ['serve']];
    for (const args of commands) {
      const ran = await dev.run([...args, '--help']);
      expect([args.join(' '), ran.code]).toEqual([args.join(' '), 0]);
      expect(ran.out).toMatch(/^Usage: conclave/);
    }
  });
});
