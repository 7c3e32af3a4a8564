/**
 * Restoring with the recovery code is not silent (issue 14, friction 8): the device that
 * restores is told whether it is new to the group or back in it, and every member — not
 * only the admins, who get the popup's notice — sees in the member list which admin the
 * recovery code added, and when.
 */
import 'fake-indexeddb/auto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupId } from '@conclave/shared/protocol';
import { peopleOnServer, type TestDevice } from './support.ts';

describe('a restore shows in the member list', () => {
  const { person: device } = peopleOnServer();
  let ana: TestDevice, ben: TestDevice;
  let groupId: GroupId;
  let recoveryCode: string;

  beforeAll(async () => {
    ana = await device('ana', 'Ana');
    ben = await device('ben', 'Ben');
    ({ groupId, recoveryCode } = await ana.ask({ type: 'group.create', name: 'Harbour', policy: 'invite-trust' }));
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: 3_600_000, prekeyed: true });
    expect(await ben.ask({ type: 'group.join', code: invite.code })).toMatchObject({ hasKey: true });
  });

  it('a brand-new device is told it is new to the group, one already in it that it is back; members see the admin the code added', async () => {
    const dee = await device('dee', 'Dee');
    const deeFp = await dee.fingerprint();
    const before = Date.now();
    expect(await dee.ask({ type: 'group.restore', recoveryCode })).toEqual({ groupId, returning: false });
    // Restoring again on the same device: it is already in the group.
    expect(await dee.ask({ type: 'group.restore', recoveryCode })).toEqual({ groupId, returning: true });

    await ben.ask({ type: 'group.sync', groupId });
    const seen = (await ben.ask({ type: 'group.detail', groupId })).members;
    const added = seen.find((m) => m.fingerprint === deeFp)!;
    expect(added).toMatchObject({ role: 'admin' });
    expect(added.addedByRecovery).toBeGreaterThanOrEqual(before - 60_000);
    // Nobody else is marked.
    expect(seen.filter((m) => m.addedByRecovery !== undefined).map((m) => m.fingerprint)).toEqual([deeFp]);
  });
});
