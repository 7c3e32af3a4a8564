/**
 * One person, two CLI devices (issue 13), against the real storage API and the real
 * signaling server (Node WebRTC on loopback): Ana's second device links to her first by
 * the typed code and reads and writes her group at once; both list the same two
 * devices; Bob, another member, sees one Ana with two devices; Ana removes her first
 * device from the second, every group's key changes, and the removed device reads
 * nothing new while Bob does. The link code and its secret are in no file of either
 * device nor in the server's database.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServers, type Servers } from './support/servers.ts';
import { fromBase64url } from '@conclave/shared/protocol';
import { cliDevice, type CliDevice } from './support/cli.ts';
import { filesUnder, findSecrets } from './support/scan.ts';

let servers: Servers;
let desk: CliDevice, laptop: CliDevice, bob: CliDevice;
const fp: Record<string, string> = {};
let signal: Record<string, string> = {};

beforeAll(async () => {
  servers = await startServers();
  signal = { CONCLAVE_SIGNAL: servers.signalUrl };
  desk = cliDevice(servers.api.url, 'ana desk passphrase');
  laptop = cliDevice(servers.api.url, 'ana laptop passphrase');
  bob = cliDevice(servers.api.url, 'bob devices passphrase');
});
afterAll(async () => {
  await servers?.close();
});

interface DevicesJson {
  person: string;
  name: string;
  devices: Array<{ fingerprint: string; thisDevice: boolean; addedAt: number | null; addedBy: string | null; removed: { at: number; by: string } | null }>;
}

interface OfferLine {
  event: 'offer';
  device: string;
  code: string;
  qrPayload: string;
  expiresAt: number;
}

/** Runs `devices link --json` on `device` and resolves its offer line as soon as it is printed, and the run when it ends. */
function startLink(device: CliDevice): { offer: Promise<OfferLine>; done: ReturnType<CliDevice['run']> } {
  let seen!: (line: OfferLine) => void;
  const offer = new Promise<OfferLine>((resolve) => (seen = resolve));
  let buffer = '';
  const done = device.run(['devices', 'link', '--json', '--for', '90'], {
    env: signal,
    onOut: (text) => {
      buffer += text;
      const first = buffer.split('\n')[0];
      if (buffer.includes('\n') && first) seen(JSON.parse(first) as OfferLine);
    },
  });
  void done.then((ran) => {
    if (!buffer.includes('\n')) throw new Error(`devices link ended without an offer (exit ${ran.code}): ${ran.err}`);
  });
  return { offer, done };
}

describe.sequential('one person, two CLI devices', { timeout: 180_000 }, () => {
  test('Ana has a group with a note and Bob in it', async () => {
    for (const [name, device] of [['Ana', desk], ['Ana (laptop, before linking)', laptop], ['Bob', bob]] as const) {
      fp[name] = (await device.json<{ fingerprint: string }>(['init', '--name', name])).fingerprint;
    }
    await desk.ok(['group', 'create', 'Family']);
    await desk.ok(['notes', 'put', 'Family', '--title', 'Before the laptop', '--body', 'written on the desk']);
    const { link } = await desk.json<{ link: string }>(['group', 'invite', 'Family', '--prekeyed']);
    await bob.ok(['join', link]);
    const before = await desk.json<DevicesJson>(['devices']);
    expect(before).toMatchObject({ person: fp.Ana, name: 'Ana', devices: [{ fingerprint: fp.Ana, thisDevice: true, addedAt: null, addedBy: null, removed: null }] });
  });

  test('the laptop links to Ana by the typed code and reads and writes her group at once', async () => {
    const laptopFp = fp['Ana (laptop, before linking)']!;
    const linking = startLink(laptop);
    const offer = await linking.offer;
    expect(offer).toMatchObject({ event: 'offer', device: laptopFp });
    expect(offer.code).toMatch(/^LNK1-/);
    expect(offer.qrPayload).toMatch(/^conclave:v3:link:/);

    // The code is typed at the desk (from the environment here), the laptop's fingerprint compared with --device.
    const added = await desk.run(['devices', 'add', '--json', '--device', laptopFp.slice(0, 16)], { env: { ...signal, CONCLAVE_LINK_CODE: offer.code } });
    expect(added.code, added.err).toBe(0);
    const report = JSON.parse(added.out) as { device: string; groups: Array<{ ok: boolean; name: string | null }> };
    expect(report).toMatchObject({ device: laptopFp, groups: [{ ok: true, name: 'Family' }] });

    const linked = await linking.done;
    expect(linked.code, linked.err).toBe(0);
    const result = JSON.parse(linked.out.trim().split('\n')[1]!) as { event: string; person: string; name: string; by: string; groups: Array<{ name: string | null }>; keyless: unknown[] };
    expect(result).toMatchObject({ event: 'linked', person: fp.Ana, name: 'Ana', by: fp.Ana, groups: [{ name: 'Family' }], keyless: [] });

    // The code and its secret stay on the two screens: in no file of either device, nor in the server's database.
    const secret = fromBase64url((JSON.parse(Buffer.from(offer.qrPayload.slice('conclave:v3:link:'.length), 'base64url').toString('utf8')) as { secret: string }).secret);
    expect(secret).toHaveLength(16);
    const files = [...filesUnder(desk.home), ...filesUnder(laptop.home), ...filesUnder(servers.api.dataDir!)];
    expect(findSecrets(files, { code: offer.code, payload: offer.qrPayload, secret })).toEqual([]);

    // It reads at once, with the person's name, and writes as Ana.
    expect(await laptop.ok(['notes', 'cat', 'Family', 'Before the laptop'])).toBe('written on the desk\n');
    expect(await laptop.json<{ displayName: string }>(['whoami'])).toMatchObject({ displayName: 'Ana', fingerprint: laptopFp });
    await laptop.ok(['notes', 'put', 'Family', '--title', 'From the laptop', '--body', 'written on the laptop']);
    const seen = await desk.json<{ body: string; author: string; authorPerson: string; authorName: string }>(['notes', 'cat', 'Family', 'From the laptop']);
    expect(seen).toMatchObject({ body: 'written on the laptop', author: laptopFp, authorPerson: fp.Ana, authorName: 'Ana' });
    const bobSees = await bob.json<{ authorName: string }>(['notes', 'cat', 'Family', 'From the laptop']);
    expect(bobSees.authorName).toBe('Ana');
  });

  test('both devices list the same two devices, each marking itself; Bob sees one Ana with two devices', async () => {
    const laptopFp = fp['Ana (laptop, before linking)']!;
    const fromDesk = await desk.json<DevicesJson>(['devices', 'list']);
    const fromLaptop = await laptop.json<DevicesJson>(['devices']);
    for (const [view, me] of [[fromDesk, fp.Ana], [fromLaptop, laptopFp]] as const) {
      expect(view.person).toBe(fp.Ana);
      expect(view.name).toBe('Ana');
      expect(view.devices.map((d) => [d.fingerprint, d.thisDevice, d.addedBy, d.removed])).toEqual([
        [fp.Ana, fp.Ana === me, null, null],
        [laptopFp, laptopFp === me, fp.Ana, null],
      ]);
      expect(view.devices[1]!.addedAt).toBeGreaterThan(0);
    }
    const text = await laptop.ok(['devices']);
    expect(text).toMatch(/Ana \(.*\): 2 devices\./);
    expect(text).toMatch(new RegExp(`\\* ${laptopFp.slice(0, 4)} `));

    const members = await bob.json<{ members: Array<{ fingerprint: string; name: string; devices: number }> }>(['group', 'members', 'Family']);
    expect(members.members.filter((m) => m.name === 'Ana')).toEqual([expect.objectContaining({ fingerprint: fp.Ana, devices: 2 })]);
    // One safety number between Ana and Bob, whichever of Ana's devices shows it.
    const numbers = await Promise.all([desk.json<{ safetyNumber: string }>(['verify', 'Family', 'Bob']), laptop.json<{ safetyNumber: string }>(['verify', 'Family', 'Bob']), bob.json<{ safetyNumber: string; member: string }>(['verify', 'Family', 'Ana'])]);
    expect(new Set(numbers.map((n) => n.safetyNumber)).size).toBe(1);
    expect(numbers[2].member).toBe(fp.Ana);
    // The desk and the laptop are one member: the same role, and "you" on both.
    const own = await laptop.json<{ members: Array<{ fingerprint: string; me: boolean; role: string }> }>(['group', 'members', 'Family']);
    expect(own.members.find((m) => m.me)).toMatchObject({ fingerprint: fp.Ana, role: 'admin' });
  });

  test('the laptop removes the desk: every group gets a new key, and the desk reads nothing new', async () => {
    const removed = await laptop.json<{ device: string; groups: Array<{ ok: boolean; generation: number }> }>(['devices', 'remove', fp.Ana!.slice(0, 8)], { answers: ['y'] });
    expect(removed.device).toBe(fp.Ana);
    expect(removed.groups).toEqual([expect.objectContaining({ ok: true, generation: 1 })]);

    await laptop.ok(['notes', 'put', 'Family', '--title', 'After the desk', '--body', 'the desk must not read this']);
    expect(await bob.ok(['notes', 'cat', 'Family', 'After the desk'])).toBe('the desk must not read this\n');

    // The desk sees the new key generation in the log, and holds no key of it.
    const deskList = await desk.json<{ groups: Array<{ role: string }> }>(['group', 'list']);
    expect(deskList.groups).toEqual([expect.objectContaining({ role: 'not a member', generation: 1, holdsKey: false })]);
    const deskRead = await desk.run(['notes', 'cat', 'Family', 'After the desk']);
    expect(deskRead.code).not.toBe(0);
    expect(deskRead.out).not.toContain('the desk must not read this');

    expect(await desk.ok(['devices'])).toMatch(/\* this device: it was removed, so it no longer speaks for Ana and reads nothing new/);

    const after = await laptop.json<DevicesJson>(['devices']);
    expect(after.devices.map((d) => [d.fingerprint, d.removed?.by ?? null])).toEqual([
      [fp['Ana (laptop, before linking)'], null],
      [fp.Ana, fp['Ana (laptop, before linking)']],
    ]);
    // Still Ana to Bob: the person's id is the desk's fingerprint, for good.
    const members = await bob.json<{ members: Array<{ fingerprint: string; name: string; devices: number }> }>(['group', 'members', 'Family']);
    expect(members.members.filter((m) => m.name === 'Ana')).toEqual([expect.objectContaining({ fingerprint: fp.Ana, devices: 1 })]);
  });
});

describe.sequential('linking and removing refuse in words, and link nothing', { timeout: 180_000 }, () => {
  let cleo: CliDevice, phone: CliDevice;
  const cleoFp: Record<string, string> = {};

  test('what is refused, with what to do instead', async () => {
    cleo = cliDevice(servers.api.url, 'cleo devices passphrase');
    phone = cliDevice(servers.api.url, 'cleo phone passphrase');
    cleoFp.desk = (await cleo.json<{ fingerprint: string }>(['init', '--name', 'Cleo'])).fingerprint;
    cleoFp.phone = (await phone.json<{ fingerprint: string }>(['init', '--name', 'Cleo phone'])).fingerprint;
    await cleo.ok(['group', 'create', 'Garden']);

    const self = await cleo.run(['devices', 'remove', cleoFp.desk!.slice(0, 6), '--yes']);
    expect(self.code).toBe(2);
    expect(self.err).toMatch(/cannot remove itself: run `conclave devices remove` on another of your devices/);
    const unknown = await cleo.run(['devices', 'remove', 'zzzzzz', '--yes']);
    expect(unknown.code).toBe(7);
    expect(unknown.err).toMatch(/none of your devices is "zzzzzz"/);

    const yes = await cleo.run(['devices', 'add', '--yes'], { env: { ...signal, CONCLAVE_LINK_CODE: 'LNK1-AAAA' } });
    expect(yes.code).toBe(2);
    expect(yes.err).toMatch(/--yes does not apply to devices add/);
    const unchecked = await cleo.run(['devices', 'add'], { env: { ...signal, CONCLAVE_LINK_CODE: 'LNK1-AAAA' } });
    expect(unchecked.code).toBe(2);
    expect(unchecked.err).toMatch(/needs the new device's fingerprint checked/);
    const badDevice = await cleo.run(['devices', 'add', '--device', 'abc'], { env: signal });
    expect(badDevice.code).toBe(2);

    // A device with a group of its own is a person already: it cannot join another.
    const taken = await cleo.run(['devices', 'link'], { env: signal });
    expect(taken.code).toBe(8);
    expect(taken.err).toMatch(/cannot join another person: this device already has groups .*`conclave --home <new dir> init`/);
    const offline = await phone.run(['devices', 'link']);
    expect(offline.code).toBe(3);
    expect(offline.err).toMatch(/linking a device needs the signaling server/);
  });

  test('a declined fingerprint and a fingerprint that differs link nothing; the QR payload then links the right device', async () => {
    // Looking first publishes nothing: a device the server names as a person of its own could never be linked.
    expect(await phone.ok(['devices'])).toMatch(/Run `conclave devices link` here before anything else/);
    const linking = startLink(phone);
    const offer = await linking.offer;

    const declined = await cleo.run(['devices', 'add'], { env: { ...signal, CONCLAVE_LINK_CODE: offer.code }, answers: ['n'] });
    expect(declined.code, declined.err).toBe(10);
    expect(declined.err).toContain(offer.device.match(/.{1,4}/g)!.join(' '));
    expect(declined.err).toMatch(/cancelled: nothing was linked/);

    const other = 'a'.repeat(16);
    const differs = await cleo.run(['devices', 'add', '--device', other], { env: { ...signal, CONCLAVE_LINK_CODE: offer.code } });
    expect(differs.code, differs.err).toBe(8);
    expect(differs.err).toMatch(/not the one you gave with --device: nothing was linked/);
    expect((await cleo.json<DevicesJson>(['devices'])).devices).toHaveLength(1);

    // The QR payload names the device itself: nothing to compare, no terminal needed.
    const added = await cleo.run(['devices', 'add', '-', '--json'], { env: signal, stdin: `${offer.qrPayload}\n` });
    expect(added.code, added.err).toBe(0);
    expect(JSON.parse(added.out)).toMatchObject({ device: cleoFp.phone, groups: [{ ok: true, name: 'Garden' }] });
    const linked = await linking.done;
    expect(linked.code, linked.err).toBe(0);
    expect((await phone.json<DevicesJson>(['devices'])).devices.map((d) => d.fingerprint)).toEqual([cleoFp.desk, cleoFp.phone]);
    expect(await phone.json<{ displayName: string }>(['whoami'])).toMatchObject({ displayName: 'Cleo' });
    expect(await phone.json<{ groups: Array<{ name: string; role: string; holdsKey: boolean }> }>(['group', 'list'])).toMatchObject({ groups: [{ name: 'Garden', role: 'admin', holdsKey: true }] });
  });
});
