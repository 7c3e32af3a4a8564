/**
 * "The storage API must never hold a secret" (DESIGN §1, §7), checked end to end on
 * SQLite and PostgreSQL: notes with unique markers in titles and bodies, names a UI
 * would show, invite codes (mailbox and pre-keyed), a recovery code, key rotations —
 * all pushed through the real client over HTTP. Then every byte the server kept (the
 * SQLite file with its -wal/-shm, every row of every PostgreSQL table) and every line
 * it logged (level debug) is searched for each secret in raw, hex, base64 and
 * base64url form. Positive controls (a fingerprint, a ciphertext, a request path)
 * must be found, so a scan that reads nothing cannot pass.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generationKeys } from '@conclave/shared/crypto';
import { currentGeneration } from '@conclave/shared/crypto';
import { signLabelled } from '@conclave/shared/crypto';
import { LABELS } from '@conclave/shared/crypto';
import { noteSigningView } from '@conclave/shared/crypto';
import { parseSecretCode } from '@conclave/shared/crypto';
import { fromBase64url, toBase64url } from '@conclave/shared/protocol';
import type { GroupId, NoteId } from '@conclave/shared/protocol';
import { newDevice, seedsHeld, type Device } from './support/clients.ts';
import { bytesNeedles, filesIn, findAll, schemaRows, textNeedles, type Haystack, type Needle } from './support/scan.ts';
import { STORE_KINDS, startServer, type TestServer } from './support/server.ts';
import { PROTOCOL_VERSION } from '@conclave/shared/protocol';

const HOUR = 3600_000;

function marker(kind: string): string {
  return `conclave-marker-${kind}-${randomBytes(12).toString('hex')}`;
}

describe('the secret scan itself', () => {
  it('finds a value in every encoded form, at every offset', () => {
    const secret = marker('self-test');
    const needles = textNeedles('self-test', secret);
    for (let offset = 0; offset < 3; offset++) {
      const embedded = Buffer.concat([randomBytes(offset + 5), Buffer.from(secret), randomBytes(7)]);
      for (const encoded of [embedded, Buffer.from(embedded.toString('hex')), Buffer.from(embedded.toString('base64')), Buffer.from(embedded.toString('base64url'))]) {
        expect(findAll(needles, [{ where: 'synthetic', bytes: encoded }]).length).toBeGreaterThan(0);
      }
    }
    expect(findAll(needles, [{ where: 'noise', bytes: randomBytes(4096) }])).toEqual([]);
  });
});

describe.each(STORE_KINDS)('secrets never leave the client (%s)', (kind) => {
  let server: TestServer;
  let devices: Device[];

  beforeAll(async () => {
    server = await startServer(kind, { config: { logLevel: 'debug' } });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('keeps no marker, code, seed or token in the database or the logs', async () => {
    const secrets: Needle[] = [];
    const texts = new Map<string, string>();
    const mark = (kind: string): string => {
      const value = marker(kind);
      texts.set(kind, value);
      secrets.push(...textNeedles(`marker ${kind}`, value));
      return value;
    };
    const secretCode = (what: string, kind: 'invite' | 'recovery', code: string): void => {
      secrets.push(...textNeedles(what, code), ...textNeedles(`${what} (compact)`, code.replace(/-/g, '')));
      secrets.push(...bytesNeedles(`${what} secret`, parseSecretCode(kind, code).secret));
    };

    devices = await Promise.all(['Client1', 'Client2', 'Client3', 'Client4'].map((n) => newDevice(n, server.url)));
    const [c1, c2, c3, c4] = devices as [Device, Device, Device, Device];
    // Names a UI would show next to members: they live only inside encrypted notes.
    const names = [mark('name-alice'), `Zoë Ångström ${mark('name-zoe')}`, `李小龍 ${mark('name-li')}`];
    for (const name of names) secrets.push(...textNeedles('display name', name));

    const { groupId, recoveryCode } = await c1.client.createGroup();
    secretCode('recovery code', 'recovery', recoveryCode);
    const first = await c1.client.writeNote(groupId, { title: mark('title-1'), body: `${mark('body-1')}\nmembers: ${names.join(', ')}` });
    await c1.client.writeNote(groupId, { title: mark('title-2'), body: mark('body-2').repeat(50) });

    // A mailbox join, a pre-keyed join, and an invite nobody uses.
    const code2 = await c1.client.invite(groupId, { role: 'member', expiresInMs: HOUR });
    const code3 = await c1.client.invite(groupId, { role: 'admin', expiresInMs: HOUR, prekeyed: true });
    const unused = await c1.client.invite(groupId, { role: 'member', expiresInMs: HOUR, prekeyed: true });
    secretCode('invite code 2', 'invite', code2);
    secretCode('invite code 3', 'invite', code3);
    secretCode('unused invite code', 'invite', unused);
    await c2.client.join(code2);
    c1.trust.set(c2.fingerprint, 'verified');
    expect((await c1.client.handOverPending(groupId)).sent).toEqual([c2.fingerprint]);
    expect(await c2.client.fetchKey(groupId)).toBe(true);
    expect((await c3.client.join(code3)).hasKey).toBe(true);

    // Edits, a rotation, writes under the new generation.
    await c2.client.writeNote(groupId, { title: mark('title-1-v2'), body: mark('body-1-v2') }, { noteId: first.noteId, version: 2 });
    await c3.client.writeNote(groupId, { title: mark('title-3'), body: mark('body-3') });
    await c1.client.removeMember(groupId, c2.fingerprint);
    await c3.client.writeNote(groupId, { title: mark('title-4'), body: mark('body-4') });

    // A fresh device restores from the recovery code (signing in as the recovery key).
    expect(await c4.client.restore(recoveryCode)).toEqual({ groupId });
    const { notes } = await c4.client.listNotes(groupId);
    expect(notes.map((n) => (n.ok ? n.title : n.reason)).sort()).toEqual(['title-1-v2', 'title-2', 'title-3', 'title-4'].map((k) => texts.get(k)).sort());

    // Every seed any device holds, and the keys derived from it.
    for (const device of devices) {
      for (const seed of await seedsHeld(device)) secrets.push(...bytesNeedles(`a seed held by ${device.name}`, seed));
    }
    const held = (await c4.store.load(groupId))!.seeds;
    expect(held.size).toBe(2);
    for (const [generation, seed] of held) {
      const keys = await generationKeys(seed, groupId as GroupId, generation);
      secrets.push(...bytesNeedles(`note key ${generation}`, keys.noteKey), ...bytesNeedles(`prev key ${generation}`, keys.prevKey));
    }
    for (const device of devices) {
      secrets.push(...textNeedles(`session token of ${device.name}`, device.session.token));
      secrets.push(...bytesNeedles(`session token bytes of ${device.name}`, Buffer.from(device.session.token, 'base64url')));
    }

    // A planted leak: a note whose "ciphertext" is a marker merely base64url-encoded, as
    // a broken client would send it. The scan must find it, so it can find a real leak.
    const planted = marker('planted');
    const plantedTitle = Buffer.from(planted);
    const unsigned = {
      v: PROTOCOL_VERSION,
      groupId,
      noteId: toBase64url(randomBytes(16)) as NoteId,
      version: 1,
      generation: currentGeneration(await c3.client.sync(groupId)),
      author: c3.fingerprint,
      at: Date.now(),
      deleted: false,
      prev: null,
      wrappedKey: toBase64url(randomBytes(60)),
      title: toBase64url(plantedTitle),
      body: toBase64url(randomBytes(40)),
    };
    const sig = await signLabelled(c3.identity, LABELS.noteSignature, await noteSigningView(unsigned, plantedTitle, fromBase64url(unsigned.body)));
    await c3.session.api.notes.put.mutate({ envelope: { ...unsigned, sig } });

    // Public values that must be there: the scan reads what the server keeps.
    const ciphertext = (await c4.session.api.notes.get.query({ groupId, noteId: first.noteId })).title;
    const controls: Needle[] = [
      { what: 'a fingerprint', bytes: Buffer.from(c1.fingerprint) },
      { what: 'a title ciphertext', bytes: Buffer.from(ciphertext) },
    ];
    const logControl: Needle[] = [{ what: 'the notes.put path', bytes: Buffer.from('notes.put') }];

    const stored: Haystack[] = [];
    if (kind === 'sqlite') {
      // While running (the WAL holds recent writes), then after close (checkpointed).
      const live = filesIn(server.dataDir!);
      expect(live.map((h) => h.where)).toContain('file conclave.sqlite-wal');
      stored.push(...live.map((h) => ({ ...h, where: `${h.where} (live)` })));
      await server.stop();
      stored.push(...filesIn(server.dataDir!).map((h) => ({ ...h, where: `${h.where} (closed)` })));
    } else {
      const { haystacks, tables, rows } = await schemaRows(server.schema!);
      expect(tables.length).toBeGreaterThanOrEqual(5);
      expect(rows).toBeGreaterThan(20);
      stored.push(...haystacks);
    }
    const logs: Haystack = { where: 'the request log', bytes: Buffer.from(server.logs(), 'utf8') };
    expect(logs.bytes.length).toBeGreaterThan(1000);

    expect(findAll(textNeedles('planted marker', planted), stored)).not.toEqual([]);
    expect(findAll(controls, stored).length).toBeGreaterThanOrEqual(2);
    for (const control of controls) expect(findAll([control], stored)).not.toEqual([]);
    expect(findAll(logControl, [logs])).not.toEqual([]);

    expect(secrets.length).toBeGreaterThan(300);
    expect(findAll(secrets, [...stored, logs])).toEqual([]);
  });
});
