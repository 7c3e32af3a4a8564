/**
 * The background as people use it, on several devices (each its own IndexedDB) against
 * a real storage API over HTTP on SQLite, with live key handover over in-memory peer
 * channels: create, invite, join and wait for the key (live or by mailbox), verify by
 * safety number or QR code, notes with names, remove, restore, roles, leave — and at
 * the end, nothing a person typed is in the server's database file.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { filesIn, findAll, textNeedles, type Needle } from '../../../storage-api/test/support/scan.ts';
import { cutLogBack, startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { MemoryNetwork, newDevice, type TestDevice } from './support.ts';

const HOUR = 3_600_000;
const ANA = 'Anastasia Quillfeather';
const BEN = 'Benedikt Marrowgate';
const CARL = 'Carlotta Fenwright';
const DORA = 'Dorotea Blackwater';
const EVE = 'Evangelina Thistlewood';
const FAY = 'Fayette Ormsby-Kell';
const GROUP = 'Lighthouse Keepers Guild';
const TITLE = 'Tide tables for the March equinox';
const BODY = 'High water at 06:12; the brass key is under the third lantern.';

describe('the background, device to device', () => {
  let server: TestServer;
  const network = new MemoryNetwork();
  const devices: TestDevice[] = [];
  let ana: TestDevice, ben: TestDevice, carl: TestDevice, dora: TestDevice, eve: TestDevice;
  let groupId: GroupId;
  let recoveryCode: string;
  const inviteCodes: string[] = [];
  const recoveryCodes: string[] = [];
  const typed: string[] = [];
  let noteId: NoteId;
  let secondGroup: GroupId;

  async function device(label: string): Promise<TestDevice> {
    const d = await newDevice(label, network, server.url);
    devices.push(d);
    return d;
  }

  async function inviteCode(prekeyed = false): Promise<{ code: string; link: string }> {
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed });
    inviteCodes.push(invite.code);
    return invite;
  }

  async function withIdentity(label: string, name: string): Promise<TestDevice> {
    const d = await device(label);
    await d.ask({ type: 'identity.create', displayName: name });
    typed.push(name);
    return d;
  }

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
  });

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => undefined);
    await server?.close();
  });

  it('names the field of an invalid request, and asks for an identity first', async () => {
    ana = await device('ana');
    expect((await ana.ask({ type: 'status' })).identity).toBeNull();
    const empty = await ana.refused({ type: 'identity.create', displayName: '   ' } as never);
    expect(empty).toMatchObject({ code: 'invalid-request' });
    expect(empty.message).toContain('displayName');
    const unknown = await ana.bg.handle({ type: 'group.explode' });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
    const badId = await ana.bg.handle({ type: 'notes.list', groupId: 'not a group id' });
    expect(badId.ok ? null : badId.error.message).toContain('groupId');
    const extra = await ana.bg.handle({ type: 'status', sneaky: true });
    expect(extra).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
    expect(await ana.bg.handle(null)).toMatchObject({ ok: false, error: { code: 'invalid-request' } });
    expect(await ana.refused({ type: 'group.create', name: GROUP, policy: 'verified' })).toMatchObject({ code: 'no-identity' });
    expect(await ana.refused({ type: 'draft.load', key: 'background.qrScanned:x' })).toMatchObject({ code: 'invalid-request' });
  });

  it('creates an identity and a group; the recovery code stays pending until confirmed', async () => {
    const me = await ana.ask({ type: 'identity.create', displayName: ANA });
    typed.push(ANA, GROUP);
    expect(me).toMatchObject({ displayName: ANA });
    expect(me.short).toMatch(/^[a-z2-7]{4} [a-z2-7]{4} [a-z2-7]{4} [a-z2-7]{4}$/);
    expect(await ana.refused({ type: 'identity.create', displayName: 'Again' })).toMatchObject({ code: 'invalid-request' });

    const created = await ana.ask({ type: 'group.create', name: GROUP, policy: 'verified' });
    ({ groupId, recoveryCode } = created);
    expect(recoveryCode).toMatch(/^REC1-/);
    let status = await ana.ask({ type: 'status' });
    expect(status.groups).toEqual([expect.objectContaining({ groupId, name: GROUP, role: 'admin', hasKey: true, recoveryUnconfirmed: true, alarm: null, removed: false })]);
    // Kept sealed under the device key (never in clear) until confirmed.
    expect(await ana.db.pendingRecovery.get(groupId)).toMatchObject({ sealed: expect.any(Uint8Array), replaced: false });
    // A popup closed on the code can show it again until it is confirmed, never after.
    expect(await ana.ask({ type: 'group.recoveryCode', groupId })).toEqual({ groupId, name: GROUP, recoveryCode, replaced: false });

    await ana.ask({ type: 'group.confirmRecoverySaved', groupId });
    expect(await ana.refused({ type: 'group.recoveryCode', groupId })).toMatchObject({ code: 'recovery-invalid' });
    status = await ana.ask({ type: 'status' });
    expect(status.groups[0]!.recoveryUnconfirmed).toBe(false);
    expect(await ana.db.pendingRecovery.get(groupId)).toBeUndefined();
    // Online for joiners.
    await ana.bg.tick();
  });

  it('an unverified joiner waits (named holders, online); verified, the key comes through the mailbox on its tick', async () => {
    ben = await withIdentity('ben', BEN);
    const { link } = await inviteCode();
    expect(link).toMatch(/^conclave:join\/INV1-/);
    expect(link).toContain(`?from=${ANA.replace(/ /g, '+')}`);

    const joined = await ben.ask({ type: 'group.join', code: link });
    expect(joined).toMatchObject({ groupId, hasKey: false });
    expect(joined.keyWait?.state).toMatchObject({ phase: 'waiting', why: 'peers-failed' });
    const anaFp = await ana.fingerprint();
    const benFp = await ben.fingerprint();
    // The inviter's name came with the link, before any profile could be read.
    expect(joined.keyWait?.holders).toEqual([{ fingerprint: anaFp, name: ANA, online: true }]);
    const waiting = (await ben.ask({ type: 'status' })).groups[0]!;
    expect(waiting).toMatchObject({ groupId, name: null, hasKey: false, role: 'member' });
    expect(waiting.keyWait?.state.phase).toBe('waiting');
    expect(waiting.keyWait?.holders).toEqual([{ fingerprint: anaFp, name: ANA, online: true }]);
    // The stored row (a public table) keeps no names.
    expect(JSON.stringify(await ben.db.keyWaits.get(groupId))).not.toContain(ANA);
    expect(await ben.refused({ type: 'notes.list', groupId })).toMatchObject({ code: 'no-key', message: 'The group key has not reached this device yet.' });

    // Ana's tick sees Ben waiting but, unverified, does not hand him the key.
    await ana.bg.tick();
    expect((await ana.ask({ type: 'status' })).groups[0]!.pending).toBe(1);
    let detail = await ana.ask({ type: 'group.detail', groupId });
    expect(detail.members.find((m) => m.fingerprint === benFp)).toMatchObject({ name: expect.stringMatching(/^Member [a-z2-7 ]{19} \(name not known yet\)$/), nameUnknown: true, trust: 'unverified', waitingForKey: true, online: true, role: 'member' });
    expect(detail.members.find((m) => m.isRecovery)).toMatchObject({ role: 'admin' });
    expect(detail).toMatchObject({ policy: 'verified', generation: 0 });

    // Both see the same safety number.
    const anaView = await ana.ask({ type: 'verify.info', groupId, fingerprint: benFp });
    const benView = await ben.ask({ type: 'verify.info', groupId, fingerprint: anaFp });
    expect(anaView.safetyNumber).toHaveLength(12);
    expect(anaView.safetyNumber).toEqual(benView.safetyNumber);
    expect(benView.peer).toMatchObject({ name: ANA, trust: 'unverified' });

    // Ana goes offline for peers; she types the digits Ben reads out, one wrong first.
    ana.transport.reachable = false;
    const wrong = [...anaView.safetyNumber];
    wrong[3] = wrong[3] === '00000' ? '11111' : '00000';
    expect(await ana.refused({ type: 'verify.confirm', groupId, fingerprint: benFp, typed: wrong.join(' ') })).toMatchObject({ code: 'verification-failed' });
    expect(await ana.refused({ type: 'verify.confirm', groupId, fingerprint: benFp, typed: '12345' })).toMatchObject({ code: 'verification-failed' });
    const verified = await ana.ask({ type: 'verify.confirm', groupId, fingerprint: benFp, typed: anaView.safetyNumber.join(' ') });
    expect(verified.trust).toBe('verified');

    await ben.bg.tick();
    const after = (await ben.ask({ type: 'status' })).groups[0]!;
    expect(after).toMatchObject({ hasKey: true, keyWait: null, name: GROUP });
    expect(await ben.db.keyWaits.get(groupId)).toBeUndefined();
    expect(network.keysHanded()).toEqual([]);

    // Ben's profile reaches Ana with her next tick.
    ana.transport.reachable = true;
    await ana.bg.tick();
    detail = await ana.ask({ type: 'group.detail', groupId });
    expect(detail.members.find((m) => m.fingerprint === benFp)).toMatchObject({ name: BEN, trust: 'verified', waitingForKey: false });
    expect((await ana.ask({ type: 'status' })).groups[0]!.pending).toBe(0);
  });

  it('after two members compare safety numbers, the key arrives live from one who holds it', async () => {
    carl = await withIdentity('carl', CARL);
    const { code } = await inviteCode();
    const joined = await carl.ask({ type: 'group.join', code });
    // Ana (admin, online) refuses: she has not verified Carl.
    expect(joined.keyWait?.state).toMatchObject({ phase: 'waiting', why: 'peers-failed' });
    const carlFp = await carl.fingerprint();
    const benFp = await ben.fingerprint();

    // Ben (a member holding the key, online) and Carl compare their safety number.
    await ben.bg.tick();
    await ben.ask({ type: 'verify.confirm', groupId, fingerprint: carlFp });
    const confirmed = await carl.ask({ type: 'verify.confirm', groupId, fingerprint: benFp });
    expect(confirmed.hasKey).toBe(true);
    expect(confirmed.keyWait?.state).toMatchObject({ phase: 'received', via: 'peer', from: benFp });
    expect(network.keysHanded()).toEqual([{ from: benFp, to: carlFp }]);
    expect((await carl.ask({ type: 'status' })).groups[0]).toMatchObject({ name: GROUP, hasKey: true, keyWait: null });
  });

  it("a scanned QR code verifies both sides in the live handshake that hands over the key", async () => {
    dora = await withIdentity('dora', DORA);
    const { code } = await inviteCode();
    await dora.ask({ type: 'group.join', code });
    const doraFp = await dora.fingerprint();
    const anaFp = await ana.fingerprint();

    const shown = await ana.ask({ type: 'verify.info', groupId, fingerprint: doraFp });
    expect(shown.qrText).toMatch(/^conclave:v3:/);
    // The same code while it is on screen.
    expect((await ana.ask({ type: 'verify.info', groupId, fingerprint: doraFp })).qrText).toBe(shown.qrText);

    // A code meant for someone else is refused.
    const forBen = await ana.ask({ type: 'verify.info', groupId, fingerprint: await ben.fingerprint() });
    expect(await dora.refused({ type: 'verify.scanned', groupId, fingerprint: anaFp, text: forBen.qrText })).toMatchObject({ code: 'verification-failed' });
    expect(await dora.refused({ type: 'verify.scanned', groupId, fingerprint: anaFp, text: 'hello' })).toMatchObject({ code: 'verification-failed' });

    const scanned = await dora.ask({ type: 'verify.scanned', groupId, fingerprint: anaFp, text: shown.qrText });
    expect(scanned).toMatchObject({ trust: 'verified', hasKey: true });
    expect(scanned.keyWait?.state).toMatchObject({ phase: 'received', via: 'peer' });
    await ana.bg.idle();
    expect(await dora.db.trust.get(anaFp)).toMatchObject({ state: 'verified', how: 'qr' });
    expect(await ana.db.trust.get(doraFp)).toMatchObject({ state: 'verified', how: 'qr' });
    // The code was used up.
    expect(await ana.db.shownQr.where('groupId').equals(groupId).filter((r) => r.peer === doraFp).count()).toBe(0);
  });

  it('a pre-keyed invite reads at once, and shows the joiner as trusted by link', async () => {
    eve = await withIdentity('eve', EVE);
    ana.transport.reachable = false;
    const { code } = await inviteCode(true);
    const joined = await eve.ask({ type: 'group.join', code });
    expect(joined).toMatchObject({ groupId, hasKey: true, keyWait: null });
    expect((await eve.ask({ type: 'status' })).groups[0]).toMatchObject({ name: GROUP, hasKey: true });
    expect(await eve.ask({ type: 'notes.list', groupId })).toEqual([]);
    ana.transport.reachable = true;
    const eveFp = await eve.fingerprint();
    const detail = await ana.ask({ type: 'group.detail', groupId });
    expect(detail.members.find((m) => m.fingerprint === eveFp)).toMatchObject({ trust: 'trusted-by-link' });
  });

  it('notes: saved, listed with names (meta notes hidden), read, edited, conflicting, deleted; unread counted', async () => {
    typed.push(TITLE, BODY);
    expect(await ana.refused({ type: 'notes.save', groupId, title: 'conclave:meta:v1', body: '{}' })).toMatchObject({ code: 'invalid-request' });
    const saved = await ana.ask({ type: 'notes.save', groupId, title: TITLE, body: BODY });
    expect(saved).toMatchObject({ saved: true, version: 1 });
    if (!saved.saved) throw new Error('not saved');
    noteId = saved.noteId;

    await ben.bg.tick();
    expect((await ben.ask({ type: 'status' })).groups[0]!.unread).toBe(1);
    expect(ben.badge()).toBe('1');

    const listed = await ben.ask({ type: 'notes.list', groupId });
    expect(listed).toEqual([expect.objectContaining({ ok: true, noteId, version: 1, title: TITLE, authorName: ANA, authorTrust: 'unverified', deleted: false })]);
    expect((await ben.ask({ type: 'status' })).groups[0]!.unread).toBe(0);
    expect(ben.badge()).toBe('');

    const read = await ben.ask({ type: 'notes.read', groupId, noteId });
    expect(read).toMatchObject({ title: TITLE, body: BODY, authorName: ANA, version: 1 });

    const edited = await ben.ask({ type: 'notes.save', groupId, noteId, baseVersion: 1, title: TITLE, body: `${BODY} Checked by Ben.` });
    typed.push(`${BODY} Checked by Ben.`);
    expect(edited).toMatchObject({ saved: true, version: 2 });

    const stale = await ana.ask({ type: 'notes.save', groupId, noteId, baseVersion: 1, title: TITLE, body: `${BODY} (Ana's edit)` });
    expect(stale.saved).toBe(false);
    if (stale.saved) throw new Error('expected a conflict');
    expect(stale.conflict.mine.body).toBe(`${BODY} (Ana's edit)`);
    expect(stale.conflict.theirs).toMatchObject({ version: 2, authorName: BEN, body: `${BODY} Checked by Ben.` });

    // Ana lists: Ben's note shows his name; nobody's profile or the group name shows as a note.
    const anaList = await ana.ask({ type: 'notes.list', groupId });
    expect(anaList).toHaveLength(1);
    expect(anaList[0]).toMatchObject({ authorName: BEN, authorTrust: 'verified' });

    // The decrypted header is cached on the device, for the list and search.
    expect(await ben.db.notes.where('groupId').equals(groupId).filter((r) => r.noteId === noteId).first()).toMatchObject({ title: TITLE, version: 2 });
    expect(await ana.refused({ type: 'notes.delete', groupId, noteId, baseVersion: 1 })).toMatchObject({ code: 'conflict' });
    expect(await ana.ask({ type: 'notes.delete', groupId, noteId, baseVersion: 2 })).toMatchObject({ noteId, version: 3 });
    expect(await ben.ask({ type: 'notes.list', groupId })).toEqual([]);
    expect(await ben.refused({ type: 'notes.read', groupId, noteId })).toMatchObject({ code: 'invalid-request' });
  });

  it('roles: an admin promotes and demotes; the last person who is an admin cannot step down or leave', async () => {
    const benFp = await ben.fingerprint();
    const anaFp = await ana.fingerprint();
    expect(await ben.refused({ type: 'group.setRole', groupId, fingerprint: anaFp, role: 'member' })).toMatchObject({ code: 'not-admin' });
    expect(await ana.refused({ type: 'group.setRole', groupId, fingerprint: anaFp, role: 'member' })).toMatchObject({ code: 'last-admin' });
    expect(await ana.refused({ type: 'group.leave', groupId })).toMatchObject({ code: 'last-admin' });
    await ana.ask({ type: 'group.setRole', groupId, fingerprint: benFp, role: 'admin' });
    expect((await ben.ask({ type: 'group.detail', groupId })).role).toBe('admin');
    await ana.ask({ type: 'group.setRole', groupId, fingerprint: benFp, role: 'member' });
    expect((await ben.ask({ type: 'group.detail', groupId })).role).toBe('member');
  });

  it('a removed device shows the group as removed and cannot read new notes', async () => {
    const doraFp = await dora.fingerprint();
    expect(await ben.refused({ type: 'group.remove', groupId, fingerprint: doraFp })).toMatchObject({ code: 'not-admin' });
    const removed = await ana.ask({ type: 'group.remove', groupId, fingerprint: doraFp });
    expect(removed).toMatchObject({ generation: 1, unreachable: 0 });
    const secret = 'Moved the spare key to the boathouse after Dora left.';
    typed.push(secret);
    const saved = await ana.ask({ type: 'notes.save', groupId, title: 'Where the key is now', body: secret });
    typed.push('Where the key is now');
    if (!saved.saved) throw new Error('not saved');

    await dora.bg.tick();
    const status = (await dora.ask({ type: 'status' })).groups[0]!;
    expect(status).toMatchObject({ groupId, removed: true });
    // It keeps what it already read, read-only (issue 14, friction 2), and nothing written after.
    expect((await dora.ask({ type: 'notes.list', groupId })).map((n) => n.ok && n.title)).not.toContain('Where the key is now');
    expect(await dora.refused({ type: 'notes.read', groupId, noteId: saved.noteId })).toMatchObject({ code: 'removed' });
    expect(await dora.refused({ type: 'notes.save', groupId, title: 'x', body: 'y' })).toMatchObject({ code: 'removed' });
    // Ana's list of members says so.
    const detail = await ana.ask({ type: 'group.detail', groupId });
    expect(detail.departed).toEqual([{ fingerprint: doraFp, name: DORA, how: 'removed' }]);
    expect(detail.generation).toBe(1);
    // Those who stay read the new note (the new key reached them with the removal).
    const benList = await ben.ask({ type: 'notes.list', groupId });
    expect(benList.map((n) => n.ok && n.title)).toEqual(['Where the key is now']);

    // Invited again, the device is a member again and reads the new note.
    const again = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
    inviteCodes.push(again.code);
    expect(await dora.ask({ type: 'group.join', code: again.link })).toMatchObject({ groupId, hasKey: true });
    expect((await dora.ask({ type: 'status' })).groups[0]).toMatchObject({ removed: false, hasKey: true });
    expect((await dora.ask({ type: 'notes.list', groupId })).map((n) => n.ok && n.title)).toEqual(['Where the key is now']);
  });

  it('restores the group from its recovery code on a fresh device', async () => {
    const fay = await withIdentity('fay', FAY);
    expect(await fay.refused({ type: 'group.restore', recoveryCode: 'REC1-XXXX' })).toMatchObject({ code: 'recovery-invalid' });
    expect(await fay.ask({ type: 'group.restore', recoveryCode })).toEqual({ groupId, returning: false });
    const status = (await fay.ask({ type: 'status' })).groups[0]!;
    expect(status).toMatchObject({ groupId, name: GROUP, role: 'admin', hasKey: true });
    const list = await fay.ask({ type: 'notes.list', groupId });
    expect(list.map((n) => n.ok && n.title)).toEqual(['Where the key is now']);
    expect(list[0]).toMatchObject({ authorName: ANA });
  });

  it('leaving forgets the group on the device; a joiner with a bad code is told so', async () => {
    await eve.ask({ type: 'group.leave', groupId });
    expect((await eve.ask({ type: 'status' })).groups).toEqual([]);
    expect(await eve.db.notes.count()).toBe(0);
    expect(await eve.refused({ type: 'group.join', code: 'INV1-0000' })).toMatchObject({ code: 'invite-invalid' });
    expect(await eve.refused({ type: 'group.join', code: inviteCodes[0]! })).toMatchObject({ code: 'invite-invalid' });
  });

  it('invite-trust: the admin\'s tick answers the mailbox unverified; the joiner gets it after its worker restarted', async () => {
    const name = 'Harbour Watch Rota';
    typed.push(name);
    const other = await ana.ask({ type: 'group.create', name, policy: 'invite-trust' });
    secondGroup = other.groupId;
    recoveryCodes.push(other.recoveryCode);
    const gus = await withIdentity('gus', 'Gustavo Pennywhistle');
    ana.transport.reachable = false;
    const invite = await ana.ask({ type: 'group.invite', groupId: secondGroup, role: 'member', expiresInMs: HOUR, prekeyed: false });
    inviteCodes.push(invite.code);
    const joined = await gus.ask({ type: 'group.join', code: invite.link });
    expect(joined.keyWait?.state).toMatchObject({ phase: 'waiting', why: 'nobody-online' });
    expect(joined.keyWait?.holders).toEqual([{ fingerprint: await ana.fingerprint(), name: ANA, online: false }]);

    // The service worker is stopped; everything it needs is in the database.
    await gus.restart();
    expect((await gus.ask({ type: 'status' })).groups[0]!.keyWait?.state.phase).toBe('waiting');
    await ana.bg.tick();
    await gus.bg.tick();
    expect((await gus.ask({ type: 'status' })).groups[0]).toMatchObject({ groupId: secondGroup, name, hasKey: true, keyWait: null });
    ana.transport.reachable = true;
  });

  it('a member whose name matches a verified member\'s under a new key shows "key changed"', async () => {
    // Ben comes back on a new device (pre-keyed link, so he can publish his name at once).
    const benAgain = await withIdentity('ben-again', BEN);
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: true });
    inviteCodes.push(invite.code);
    await benAgain.ask({ type: 'group.join', code: invite.code });
    const newFp = await benAgain.fingerprint();
    await ana.bg.tick();
    const detail = await ana.ask({ type: 'group.detail', groupId });
    expect(detail.members.find((m) => m.fingerprint === newFp)).toMatchObject({ name: BEN, trust: 'key-changed' });
    // Verifying the new key clears it.
    await ana.ask({ type: 'verify.confirm', groupId, fingerprint: newFp });
    expect((await ana.ask({ type: 'group.detail', groupId })).members.find((m) => m.fingerprint === newFp)?.trust).toBe('verified');
    await ana.ask({ type: 'verify.reset', groupId, fingerprint: newFp });
    expect((await ana.ask({ type: 'group.detail', groupId })).members.find((m) => m.fingerprint === newFp)?.trust).toBe('key-changed');
  });

  it('raises an alarm naming the group when the server rolls its log back', async () => {
    const name = 'Harbour Watch Rota';
    inviteCodes.push((await ana.ask({ type: 'group.invite', groupId: secondGroup, role: 'member', expiresInMs: HOUR, prekeyed: false })).code);
    inviteCodes.push((await ana.ask({ type: 'group.invite', groupId: secondGroup, role: 'member', expiresInMs: HOUR, prekeyed: false })).code);
    const row = (await ana.db.groups.get(secondGroup))!;
    const keep = row.pinned.seq - 2;
    await cutLogBack(server, secondGroup, keep, row.state.hashes[keep]!);

    ana.events.length = 0;
    const error = await ana.refused({ type: 'group.sync', groupId: secondGroup });
    expect(error.code).toBe('fork');
    expect(error.message).toContain(name);
    expect(error.action).toBe('Stop using this group and tell its members; the server may be showing you a different history.');
    const status = await ana.ask({ type: 'status' });
    expect(status.groups.find((g) => g.groupId === secondGroup)?.alarm).toContain(name);
    expect(ana.events).toContainEqual({ type: 'conclave.changed', groupId: secondGroup });
    await ana.bg.tick();
    expect(ana.badge()).toBe('!');
    expect(await ana.refused({ type: 'notes.save', groupId: secondGroup, title: 'x', body: 'y' })).toMatchObject({ code: 'fork' });
    expect(await ana.refused({ type: 'group.invite', groupId: secondGroup, role: 'member', expiresInMs: HOUR, prekeyed: false })).toMatchObject({ code: 'fork' });
    // The other group goes on.
    expect((await ana.ask({ type: 'notes.list', groupId })).length).toBe(1);
    // Leaving a forked group only forgets it on this device.
    await ana.ask({ type: 'group.leave', groupId: secondGroup });
    expect((await ana.ask({ type: 'status' })).groups.map((g) => g.groupId)).toEqual([groupId]);
  });

  it('tells where the storage API could not be reached', async () => {
    const lost = await newDevice('lost', network, 'http://127.0.0.1:9');
    devices.push(lost);
    await lost.ask({ type: 'identity.create', displayName: 'Nobody' });
    const error = await lost.refused({ type: 'group.create', name: 'Nowhere', policy: 'verified' });
    expect(error.code).toBe('server-unreachable');
    expect(error.message).toContain('http://127.0.0.1:9');
    expect(error.action).toContain('Options');
    // The popup still opens.
    expect((await lost.ask({ type: 'status' })).identity?.displayName).toBe('Nobody');
  });

  it('leaves no name, title, body, invite or recovery code in the server database', async () => {
    await server.stop();
    const needles: Needle[] = [];
    for (const text of typed) needles.push(...textNeedles(`typed text "${text.slice(0, 12)}…"`, text));
    for (const code of [...inviteCodes, recoveryCode, ...recoveryCodes]) {
      needles.push(...textNeedles('a code', code), ...textNeedles('a code (compact)', code.replace(/-/g, '')));
    }
    const files = filesIn(server.dataDir!);
    expect(files.length).toBeGreaterThan(0);
    expect(findAll(needles, files)).toEqual([]);
    // …while the notes themselves are there (as ciphertext).
    expect(files.reduce((n, f) => n + f.bytes.length, 0)).toBeGreaterThan(10_000);
  });
});
