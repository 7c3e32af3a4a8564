/**
 * The joiner's side of a `key-offer` (PROTOCOL §10.5, issue 14 friction 7) against
 * offers anyone can send: the offer is unsigned, so a device waiting for the key answers
 * one only when it names a device of its own log's key holders — before it shows or
 * syncs anything —, one offer at a time per group, and an offer never stands in for the
 * joiner's own rounds (the tick still dials the holders and asks the mailbox). An offer
 * that fails leaves the wait as the last round left it, never an older copy.
 *
 * Eve and Fay are people on the same server who are not in the group: they dial Ben,
 * who waits for the key, over the in-memory peer network and send offers by hand.
 */
import 'fake-indexeddb/auto';
import { beforeAll, describe, expect, it } from 'vitest';
import { keyOfferMessage, type MessageChannel } from '@conclave/shared/p2p';
import type { Fingerprint, GroupId } from '@conclave/shared/protocol';
import { callsOf } from '../../../storage-api/test/support/request-recorder.ts';
import { peopleOnServer, until, type MemoryNetwork, type TestDevice } from './support.ts';

const HOUR = 3_600_000;

interface Dialled {
  channel: MessageChannel;
  /** What the waiting device sent back on this channel. */
  got: unknown[];
  closed(): boolean;
}

/** `from` dials `to` and sends an offer of `groupId`'s key naming `named` as the offering device. */
function offerFrom(network: MemoryNetwork, from: Fingerprint, to: Fingerprint, groupId: GroupId, named: Fingerprint): Dialled {
  const channel = network.dial(from, to);
  const got: unknown[] = [];
  let closed = false;
  channel.onMessage((data) => got.push(data));
  channel.onClose(() => (closed = true));
  channel.send(JSON.stringify(keyOfferMessage(groupId, named)));
  return { channel, got, closed: () => closed };
}

function isHello(text: unknown): boolean {
  return typeof text === 'string' && (JSON.parse(text) as { t?: string }).t === 'hello';
}

describe('a key offer, as a stranger can send one', () => {
  const { network, person, requests } = peopleOnServer();
  let ana: TestDevice;
  let eve: TestDevice;
  let fay: TestDevice;
  let groupId: GroupId;
  let anaFp: Fingerprint;

  beforeAll(async () => {
    ana = await person('ana', 'Ana');
    eve = await person('eve', 'Eve');
    fay = await person('fay', 'Fay');
    ({ groupId } = await ana.ask({ type: 'group.create', name: 'Book club', policy: 'verified' }));
    await ana.ask({ type: 'group.confirmRecoverySaved', groupId });
    await ana.bg.tick();
    anaFp = await ana.fingerprint();
    // Eve and Fay are online (they can dial), in no group.
    await eve.bg.tick();
    await fay.bg.tick();
  });

  /** A new person who joined and waits for the key (Ana has not verified them). */
  async function waitingJoiner(label: string): Promise<{ joiner: TestDevice; fp: Fingerprint }> {
    const joiner = await person(label, 'Ben');
    const invite = await ana.ask({ type: 'group.invite', groupId, role: 'member', expiresInMs: HOUR, prekeyed: false });
    const joined = await joiner.ask({ type: 'group.join', code: invite.link });
    expect(joined.hasKey).toBe(false);
    await joiner.bg.idle();
    expect(await joiner.db.keyWaits.get(groupId)).toMatchObject({ state: { phase: 'waiting' } });
    return { joiner, fp: await joiner.fingerprint() };
  }

  it('regression: an offer naming a device that cannot hold the key changes nothing on screen and syncs nothing', async () => {
    const { joiner: ben, fp: benFp } = await waitingJoiner('ben-nonholder');
    const eveFp = await eve.fingerprint();
    const before = await ben.db.keyWaits.get(groupId);
    const eventsBefore = ben.events.length;
    // Eve names herself (not in the group), then Ben's own device (never a holder of his).
    for (const named of [eveFp, benFp]) {
      const { result: offer, requests: sent } = await requests.during(async () => {
        const offer = offerFrom(network, eveFp, benFp, groupId, named);
        await until('the offer is closed', () => offer.closed());
        await ben.bg.idle();
        return offer;
      });
      expect(sent).toEqual([]);
      expect(offer.got).toEqual([]);
    }
    expect(await ben.db.keyWaits.get(groupId)).toEqual(before);
    expect(ben.events.slice(eventsBefore)).toEqual([]);
  });

  it('regression: a forged offer naming a real holder costs one refused handshake and leaves the wait as it was', async () => {
    const { joiner: ben, fp: benFp } = await waitingJoiner('ben-forged');
    const before = await ben.db.keyWaits.get(groupId);
    // Eve claims to be Ana's device: Ben says hello expecting Ana, and Eve cannot answer as her.
    const offer = offerFrom(network, await eve.fingerprint(), benFp, groupId, anaFp);
    await until('Ben answers with his hello', () => offer.got.some(isHello));
    offer.channel.close();
    await ben.bg.idle();
    expect(await ben.db.keyWaits.get(groupId)).toEqual(before);
    expect((await ben.ask({ type: 'status' })).groups.find((g) => g.groupId === groupId)).toMatchObject({ hasKey: false });
    expect(network.keysHanded().some((h) => h.to === benFp)).toBe(false);
  });

  it('regression: two offers at once: one is answered, the other is closed unanswered', async () => {
    const { joiner: ben, fp: benFp } = await waitingJoiner('ben-two');
    const first = offerFrom(network, await eve.fingerprint(), benFp, groupId, anaFp);
    const second = offerFrom(network, await fay.fingerprint(), benFp, groupId, anaFp);
    await until('one offer is answered and the other closed', () => [first, second].some((o) => o.got.some(isHello)) && [first, second].some((o) => o.closed()));
    const answered = [first, second].filter((o) => o.got.length > 0);
    expect(answered).toHaveLength(1);
    const dropped = [first, second].find((o) => o !== answered[0])!;
    expect(dropped.got).toEqual([]);
    expect(dropped.closed()).toBe(true);
    answered[0]!.channel.close();
    await ben.bg.idle();
  });

  it("regression: an offer in flight does not stop the joiner's own round: the tick dials the holders and asks the mailbox, and the failed offer does not write an older wait back", async () => {
    const { joiner: ben, fp: benFp } = await waitingJoiner('ben-starve');
    const offer = offerFrom(network, await eve.fingerprint(), benFp, groupId, anaFp);
    await until('the offer is in flight', () => offer.got.some(isHello));
    const carried = network.carried.length;
    const { requests: sent } = await requests.during(() => ben.bg.tick());
    // A real round: Ben said hello to Ana's device himself, and asked the mailbox again.
    expect(network.carried.slice(carried).some((c) => c.from === benFp && c.to === anaFp && isHello(c.text))).toBe(true);
    expect(callsOf(sent, 'mailbox.request')).toBe(1);
    const afterRound = await ben.db.keyWaits.get(groupId);
    expect(afterRound).toMatchObject({ state: { phase: 'waiting', why: 'peers-failed' } });
    // The offer fails after the round: the round's wait stands.
    offer.channel.close();
    await ben.bg.idle();
    expect(await ben.db.keyWaits.get(groupId)).toEqual(afterRound);
  });

  it("regression: the joiner's own verification during a forged offer gets a real round once the offer is over, never the failed offer", async () => {
    const { joiner: ben, fp: benFp } = await waitingJoiner('ben-verify');
    const offer = offerFrom(network, await eve.fingerprint(), benFp, groupId, anaFp);
    await until('the offer is in flight', () => offer.got.some(isHello));
    const carried = network.carried.length;
    const confirming = ben.ask({ type: 'verify.confirm', groupId, fingerprint: anaFp });
    setTimeout(() => offer.channel.close(), 50);
    const confirmed = await confirming;
    expect(confirmed.keyWait?.state).toMatchObject({ phase: 'waiting', why: 'peers-failed' });
    expect(network.carried.slice(carried).some((c) => c.from === benFp && c.to === anaFp && isHello(c.text))).toBe(true);
  });
});
