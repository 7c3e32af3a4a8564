/**
 * The live key handover between two CLI devices over Node WebRTC (peerjs +
 * @roamhq/wrtc, loopback, no ICE servers) through the real signaling server, beside
 * the real storage API: Ana's device serves (`conclave serve`), Bob joins with `--live`
 * and receives the key from her device, not from the mailbox. Without a signaling
 * address, `--live` says so and the mailbox carries on.
 */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { startServers, type Servers } from './support/servers.ts';
import { cliDevice } from './support/cli.ts';

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

describe('join --live', { timeout: 120_000 }, () => {
  test('Bob receives the key live from Ana’s serving CLI device', async () => {
    const ana = cliDevice(api.url, 'ana live passphrase');
    const bob = cliDevice(api.url, 'bob live passphrase');
    await ana.ok(['init', '--name', 'Ana']);
    await bob.ok(['init', '--name', 'Bob']);
    await ana.ok(['group', 'create', 'Live', '--policy', 'invite-trust']);
    await ana.ok(['notes', 'put', 'Live', '--title', 'Before Bob', '--body', 'written before Bob joined']);
    const { link } = await ana.json<{ link: string }>(['group', 'invite', 'Live']);
    const anaFp = (await ana.json<{ fingerprint: string }>(['whoami'])).fingerprint;

    // A real process, stopped by Ctrl-C (SIGINT) once the join has returned: no timing to guess.
    // --for: it stops by itself even if this test process dies before its Ctrl-C.
    const serving = ana.start(['serve', '--for', '90'], { env: { CONCLAVE_SIGNAL: signalUrl } });
    await vi.waitFor(() => expect(signaling.online()).toContain(anaFp), { timeout: 20_000, interval: 50 });

    const joined = await bob.run(['join', link, '--live', '--json'], { env: { CONCLAVE_SIGNAL: signalUrl } });
    expect(joined.code).toBe(0);
    expect(JSON.parse(joined.out)).toMatchObject({ hasKey: true, via: 'peer', name: 'Live' });
    expect(joined.err).toMatch(/Received the key live/);
    expect(await bob.ok(['notes', 'cat', 'Live', 'Before Bob'])).toBe('written before Bob joined\n');

    // serve holds the state directory's lock per handover only: Ana's other commands run beside it.
    expect(await ana.ok(['notes', 'cat', 'Live', 'Before Bob'])).toBe('written before Bob joined\n');
    serving.child.kill('SIGINT');
    const served = await serving.done;
    expect(served.code).toBe(0);
    expect(served.out).toMatch(/Handed the key \(generation 0\) to .*, live\./);
  });

  test('without a signaling address, --live says so and the mailbox carries on', async () => {
    const ana = cliDevice(api.url, 'ana2 live passphrase');
    const cleo = cliDevice(api.url, 'cleo live passphrase');
    await ana.ok(['init', '--name', 'Ana']);
    await cleo.ok(['init', '--name', 'Cleo']);
    await ana.ok(['group', 'create', 'Quiet']);
    const { code } = await ana.json<{ code: string }>(['group', 'invite', 'Quiet']);
    const joined = await cleo.run(['join', code, '--live', '--json']);
    expect(joined.code).toBe(0);
    expect(JSON.parse(joined.out)).toMatchObject({ hasKey: false, via: null });
    expect(joined.err).toMatch(/No signaling server address .* using the mailbox/);
    const serve = await ana.run(['serve', '--for', '1']);
    expect(serve.code).toBe(3);
    expect(serve.err).toMatch(/needs the signaling server/);
  });
});
