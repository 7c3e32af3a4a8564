/**
 * The device link's codes and peer protocol (shared/src/crypto/link-code.ts,
 * shared/src/p2p/device-link.ts) with real crypto over in-memory channel pairs: a link
 * by the right secret succeeds with the chain extended at the agreed place; a wrong
 * code, a device swapped behind the lookup, a relay, and a hand-over that does not link
 * the new device are each refused by name.
 */
import { describe, expect, it } from 'vitest';
import { extendChain, linkEntry, replayChain, singleDeviceChain, type PersonState } from '../src/crypto/device-chain.ts';
import { EncodingError } from '../src/crypto/errors.ts';
import { generateIdentity, type DeviceIdentity } from '../src/crypto/identity.ts';
import { encodeLinkCode, linkLookup, linkProofKey, linkQrPayload, newLinkSecret, parseLinkCode, parseLinkInput } from '../src/crypto/link-code.ts';
import { memoryChannelPair, type MessageChannel } from '../src/p2p/channel.ts';
import { ExistingDeviceLink, isLinkOpening, NewDeviceLink, parseLinkMessage, runLink, type LinkDone, type LinkResult } from '../src/p2p/device-link.ts';
import type { DeviceEntry } from '../src/protocol/schemas.ts';
import { toBase64url } from '../src/protocol/encoding.ts';

describe('link codes', () => {
  it('a QR payload and a typed code carry the same secret; the QR also names the device', async () => {
    const device = await generateIdentity();
    const secret = newLinkSecret();
    const qr = linkQrPayload(device.fingerprint, secret);
    expect(qr.startsWith('conclave:v3:link:')).toBe(true);
    expect(parseLinkInput(qr)).toEqual({ secret, device: device.fingerprint });
    const code = encodeLinkCode(secret);
    expect(code).toMatch(/^LNK1(-[0-9A-Z]{1,4})+$/);
    expect(parseLinkInput(code)).toEqual({ secret });
    // Typed loosely: lower case, spaces, O for 0.
    expect(parseLinkCode(code.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o'))).toEqual(secret);
  });

  it('a typo, a group code and a damaged QR are refused by name', () => {
    const code = encodeLinkCode(newLinkSecret());
    const last = code.at(-1)!;
    const typo = code.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    expect(() => parseLinkCode(typo)).toThrow(/typo/);
    expect(() => parseLinkCode('INV1-AAAA')).toThrow(/group code/);
    expect(() => parseLinkCode(code.slice(0, -3))).toThrow(/too short/);
    expect(() => parseLinkInput('conclave:v3:link:not-json')).toThrow(EncodingError);
  });

  it('the lookup is derived from the secret and reveals nothing of it', async () => {
    const secret = newLinkSecret();
    const lookup = await linkLookup(secret);
    expect(lookup).toBe(await linkLookup(secret));
    expect(lookup).not.toBe(await linkLookup(newLinkSecret()));
    expect(lookup).not.toContain(toBase64url(secret).slice(0, 8));
    expect(await linkProofKey(secret)).not.toEqual(secret);
  });
});

interface Sides {
  existing: DeviceIdentity;
  chain: DeviceEntry[];
  person: PersonState;
  newDevice: DeviceIdentity;
}

async function sides(): Promise<Sides> {
  const existing = await generateIdentity();
  const chain = await singleDeviceChain(existing);
  return { existing, chain, person: await replayChain(chain), newDevice: await generateIdentity() };
}

/** E's machine whose commit appends the link to the chain in memory (what the SDK does on the server). */
async function existingSide(s: Sides, secret: Uint8Array, device = s.newDevice.fingerprint, commit?: ExistingSideCommit) {
  return ExistingDeviceLink.open<DeviceEntry[]>({
    me: s.existing,
    chain: s.chain,
    person: s.person,
    proofKey: await linkProofKey(secret),
    device,
    commit:
      commit ??
      (async (bundle, consent) => {
        const entry = await linkEntry(s.person, s.existing, bundle, consent);
        await extendChain(s.person, [entry]);
        const chain = [...s.chain, entry];
        return { chain, profile: { name: 'Ana' }, groups: [], result: chain };
      }),
  });
}
type ExistingSideCommit = Parameters<typeof ExistingDeviceLink.open<DeviceEntry[]>>[0]['commit'];

async function newSide(identity: DeviceIdentity, secret: Uint8Array) {
  return new NewDeviceLink<{ done: LinkDone; chain: PersonState; profile: unknown }>({ me: identity, proofKey: await linkProofKey(secret), finish: async (done, chain, _by, profile) => ({ done, chain, profile }) });
}

/** Runs E's machine on one end of a channel pair and the other side on the other end (listening first, as a PeerJS channel keeps early messages). */
function pair<B>(existing: ExistingDeviceLink<DeviceEntry[]>, other: NewDeviceLink<B>): Promise<[LinkResult<DeviceEntry[]>, LinkResult<B>]> {
  return pairWith(existing, (n) => runLink(n, other, fast));
}

function pairWith<B>(existing: ExistingDeviceLink<DeviceEntry[]>, other: (channel: MessageChannel) => Promise<B>): Promise<[LinkResult<DeviceEntry[]>, B]> {
  const [e, n] = memoryChannelPair();
  const answering = other(n);
  return Promise.all([runLink(e, existing, fast), answering]);
}

const fast = { timeoutMs: 5_000, closeGraceMs: 10 };

describe('the device link over a channel', () => {
  it('links the new device: both sides agree, the chain names it right after the offered head', async () => {
    const s = await sides();
    const secret = newLinkSecret();
    const [existing, fresh] = await pair(await existingSide(s, secret), await newSide(s.newDevice, secret));
    expect(existing.kind).toBe('linked');
    expect(fresh.kind).toBe('linked');
    const { chain, done, profile } = (fresh as Extract<typeof fresh, { kind: 'linked' }>).value;
    expect([...chain.devices.keys()]).toEqual([s.existing.fingerprint, s.newDevice.fingerprint]);
    expect(chain.person).toBe(s.existing.fingerprint);
    expect(profile).toEqual({ name: 'Ana' });
    // The profile travels sealed to the new device: the name is nowhere in the message.
    expect(JSON.stringify(done)).not.toContain('Ana');
  });

  it('a wrong code is refused by the new device before it consents to anything (bad-proof)', async () => {
    const s = await sides();
    const [existing, fresh] = await pair(await existingSide(s, newLinkSecret()), await newSide(s.newDevice, newLinkSecret()));
    expect(fresh).toEqual({ kind: 'refused', reason: 'bad-proof', by: 'me' });
    expect(existing).toEqual({ kind: 'refused', reason: 'bad-proof', by: 'peer' });
  });

  it('a device swapped in behind the lookup cannot answer: it does not know the secret (bad-proof)', async () => {
    const s = await sides();
    const secret = newLinkSecret();
    const impostor = await generateIdentity();
    // The server answered the lookup with the impostor's bundle, so E dials the impostor, who answers with the proof it can make.
    const [existing, fake] = await pairWith(await existingSide(s, secret, impostor.fingerprint), (n) => forgedAccept(n, impostor));
    expect(existing).toEqual({ kind: 'refused', reason: 'bad-proof', by: 'me' });
    expect(fake).toBe('refused');
  });

  it('a relay that passes E\'s offer on to the real new device is refused: the offer names another device (wrong-device)', async () => {
    const s = await sides();
    const secret = newLinkSecret();
    const relay = await generateIdentity();
    const [, fresh] = await pair(await existingSide(s, secret, relay.fingerprint), await newSide(s.newDevice, secret));
    expect(fresh).toEqual({ kind: 'refused', reason: 'wrong-device', by: 'me' });
  });

  it('a hand-over whose chain does not link the new device is refused (chain-invalid)', async () => {
    const s = await sides();
    const secret = newLinkSecret();
    const unlinked: ExistingSideCommit = async () => ({ chain: s.chain, groups: [], result: s.chain });
    const [, fresh] = await pair(await existingSide(s, secret, s.newDevice.fingerprint, unlinked), await newSide(s.newDevice, secret));
    expect(fresh).toEqual({ kind: 'refused', reason: 'chain-invalid', by: 'me' });
  });

  it('a commit the server refuses ends the link with `server`, and the new device hears it', async () => {
    const s = await sides();
    const secret = newLinkSecret();
    const failing: ExistingSideCommit = async () => {
      throw new Error('CONFLICT');
    };
    const [existing, fresh] = await pair(await existingSide(s, secret, s.newDevice.fingerprint, failing), await newSide(s.newDevice, secret));
    expect(existing).toEqual({ kind: 'refused', reason: 'server', by: 'me' });
    expect(fresh).toEqual({ kind: 'refused', reason: 'server', by: 'peer' });
  });

  it('messages are strict and size-limited; the first message says whether a channel is a link', () => {
    expect(parseLinkMessage('{"t":"link-refuse","reason":"declined"}')).toEqual({ t: 'link-refuse', reason: 'declined' });
    expect(parseLinkMessage('{"t":"link-refuse","reason":"declined","extra":1}')).toBeNull();
    expect(parseLinkMessage('{"t":"link-refuse","reason":"' + 'x'.repeat(5 * 1024 * 1024) + '"}')).toBeNull();
    expect(isLinkOpening('{"t":"hello"}')).toBe(false);
  });

  it('the offer opens a link channel, and only a well-formed one does', async () => {
    const s = await sides();
    const [offer] = (await existingSide(s, newLinkSecret())).start().send;
    expect(isLinkOpening(JSON.stringify(offer))).toBe(true);
    expect(isLinkOpening(JSON.stringify({ ...offer, proof: 'short' }))).toBe(false);
  });
});

/** An impostor's side: reads the offer and answers with an accept whose proof is made without the secret. */
function forgedAccept(channel: MessageChannel, impostor: DeviceIdentity): Promise<'refused' | 'linked'> {
  return new Promise((resolve) => {
    channel.onMessage((raw) => {
      const message = parseLinkMessage(raw);
      if (message?.t === 'link-offer') {
        channel.send(JSON.stringify({ t: 'link-accept', bundle: impostor.bundle, nonce: 'A'.repeat(22), consent: 'A'.repeat(86), proof: 'A'.repeat(43), sig: 'A'.repeat(86) }));
      } else if (message?.t === 'link-refuse') resolve('refused');
      else if (message?.t === 'link-done') resolve('linked');
    });
    channel.onClose(() => resolve('refused'));
  });
}
