/**
 * The CLI's live commands on the live event stream, against a real storage API:
 * `notes watch` prints another member's notes as they are written and edited, and
 * `serve --mailbox` hands the key to a joiner as soon as the request arrives (well
 * before its one-minute backstop).
 */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { startServers, type Servers } from './support/servers.ts';
import { cliDevice, type CliDevice } from './support/cli.ts';

let servers: Servers;
let api: Servers['api'];
let signaling: Servers['signaling'];
let signalUrl = '';

beforeAll(async () => {
  servers = await startServers();
  ({ api, signaling, signalUrl } = servers);
});
afterAll(async () => {
  await servers?.close();
});

/** Ana's group with Bob in it, holding the key (handed over by mailbox). */
async function twoMembers(group: string): Promise<{ ana: CliDevice; bob: CliDevice }> {
  const ana = cliDevice(api.url, `ana ${group} passphrase`);
  const bob = cliDevice(api.url, `bob ${group} passphrase`);
  await ana.ok(['init', '--name', 'Ana']);
  await bob.ok(['init', '--name', 'Bob']);
  await ana.ok(['group', 'create', group, '--policy', 'invite-trust']);
  const { code } = await ana.json<{ code: string }>(['group', 'invite', group]);
  await bob.ok(['join', code]);
  await ana.ok(['group', 'handover', group]);
  // Bob learns the group's name once he holds the key (the name is an encrypted note).
  await bob.ok(['group', 'list']);
  return { ana, bob };
}

describe('notes watch', { timeout: 120_000 }, () => {
  test("prints Bob's new note and his edit as they happen, by his name, then stops at Ctrl-C", async () => {
    const { ana, bob } = await twoMembers('Watched');
    // --for: it stops by itself even if this test process dies before its Ctrl-C.
    const watching = ana.start(['notes', 'watch', 'Watched', '--json', '--for', '90']);
    let out = '';
    watching.child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    let err = '';
    watching.child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    await vi.waitFor(() => expect(err).toMatch(/Watching for changes/), { timeout: 30_000, interval: 50 });

    const { noteId } = await bob.json<{ noteId: string }>(['notes', 'put', 'Watched', '--title', 'Live from Bob', '--body', 'hello']);
    await vi.waitFor(() => expect(out).toContain('Live from Bob'), { timeout: 20_000, interval: 50 });
    await bob.ok(['notes', 'put', 'Watched', '--note', noteId, '--body', 'hello again']);
    await vi.waitFor(() => expect(out.trim().split('\n')).toHaveLength(2), { timeout: 20_000, interval: 50 });

    watching.child.kill('SIGINT');
    const done = await watching.done;
    expect(done.code).toBe(0);
    const lines = done.out.trim().split('\n').map((l) => JSON.parse(l) as { noteId: string; version: number; title: string; authorName: string | null });
    expect(lines.map((l) => [l.noteId, l.version, l.title, l.authorName])).toEqual([
      [noteId, 1, 'Live from Bob', 'Bob'],
      [noteId, 2, 'Live from Bob', 'Bob'],
    ]);
  });

  test('a bad --for is a usage error', async () => {
    const { ana } = await twoMembers('Usage');
    const ran = await ana.run(['notes', 'watch', 'Usage', '--for', 'soon']);
    expect(ran.code).toBe(2);
    expect(ran.err).toMatch(/--for takes a number of seconds/);
  });
});

describe('serve --mailbox', { timeout: 120_000 }, () => {
  test('hands the key to a joiner as soon as the request arrives', async () => {
    const ana = cliDevice(api.url, 'ana serve passphrase');
    const cleo = cliDevice(api.url, 'cleo serve passphrase');
    await ana.ok(['init', '--name', 'Ana']);
    await cleo.ok(['init', '--name', 'Cleo']);
    await ana.ok(['group', 'create', 'Served', '--policy', 'invite-trust']);
    await ana.ok(['notes', 'put', 'Served', '--title', 'Waiting for Cleo', '--body', 'there']);
    const { code } = await ana.json<{ code: string }>(['group', 'invite', 'Served']);
    const anaFp = (await ana.json<{ fingerprint: string }>(['whoami'])).fingerprint;
    const serving = ana.start(['serve', '--mailbox', '--for', '90'], { env: { CONCLAVE_SIGNAL: signalUrl } });
    let out = '';
    serving.child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await vi.waitFor(() => expect(signaling.online()).toContain(anaFp), { timeout: 20_000, interval: 50 });

    // Cleo joins by mailbox only (no --live): her request is an event for Ana's device.
    const joined = await cleo.json<{ hasKey: boolean }>(['join', code, '--json']);
    expect(joined.hasKey).toBe(false);
    // Far inside serve's one-minute backstop: only the event can explain it.
    await vi.waitFor(() => expect(out).toMatch(/Handed the key to .* by mailbox\./), { timeout: 20_000, interval: 50 });
    await cleo.ok(['group', 'list']);
    expect(await cleo.ok(['notes', 'cat', 'Served', 'Waiting for Cleo'])).toBe('there\n');
    serving.child.kill('SIGINT');
    expect((await serving.done).code).toBe(0);
  });
});
