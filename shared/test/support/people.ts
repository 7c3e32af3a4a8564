/**
 * People for protocol tests (DESIGN §3): a person is a device chain. These helpers
 * build real chains with real keys through the public builders (foundEntry, linkEntry,
 * unlinkEntry, signConsent) and the group log's `devices` entry that continues one,
 * with the rotation an unlink obliges — what the SDK does, without the network.
 */
import type { Fingerprint } from '../../src/protocol/ids.ts';
import type { DeviceEntry, KeyBox, LogEntry } from '../../src/protocol/schemas.ts';
import { extendChain, linkEntry, nextPosition, replayChain, signConsent, singleDeviceChain, unlinkEntry, type PersonState } from '../../src/crypto/device-chain.ts';
import { makeRotation } from '../../src/crypto/generations.ts';
import { sealToRecipients } from '../../src/crypto/group-lifecycle.ts';
import { currentGeneration, nextEntry, type GroupState } from '../../src/crypto/group-log.ts';
import { generateIdentity, type DeviceIdentity } from '../../src/crypto/identity.ts';
import { extendLog } from '../../src/crypto/log-replay.ts';

/** One person: their devices' identities (founding first) and their chain. */
export class TestPerson {
  private constructor(
    readonly founder: DeviceIdentity,
    public entries: DeviceEntry[],
    public state: PersonState,
    /** Every device that ever spoke for them, by fingerprint (unlinked ones stay here). */
    readonly devices: Map<Fingerprint, DeviceIdentity>,
  ) {}

  /** A person founded by `founder` (a fresh device when none is given). */
  static async found(founder?: DeviceIdentity): Promise<TestPerson> {
    const device = founder ?? (await generateIdentity());
    const entries = await singleDeviceChain(device);
    return new TestPerson(device, entries, await replayChain(entries, { now: 0 }), new Map([[device.fingerprint, device]]));
  }

  /** The person id: the founding device's fingerprint. */
  get id(): Fingerprint {
    return this.state.person;
  }

  /** A copy of the whole chain, as a log entry carries it. */
  chain(): DeviceEntry[] {
    return structuredClone(this.entries);
  }

  /** Appends already-built entries after checking them as every client would. */
  async append(...entries: DeviceEntry[]): Promise<DeviceEntry[]> {
    this.state = await extendChain(this.state, entries, { now: Date.now() });
    this.entries.push(...entries);
    return entries;
  }

  /** Links a device (fresh when none is given), certified by `certifier` (the founder by default). */
  async link(options: { device?: DeviceIdentity; certifier?: DeviceIdentity; at?: number } = {}): Promise<{ device: DeviceIdentity; entry: DeviceEntry }> {
    const device = options.device ?? (await generateIdentity());
    const certifier = options.certifier ?? this.founder;
    const consent = await signConsent(device, nextPosition(this.state, certifier.fingerprint));
    const entry = await linkEntry(this.state, certifier, device.bundle, consent, options.at ?? this.state.lastAt + 1);
    await this.append(entry);
    this.devices.set(device.fingerprint, device);
    return { device, entry };
  }

  /** Unlinks `device`, signed by `author` (another current device). */
  async unlink(device: DeviceIdentity | Fingerprint, author: DeviceIdentity, at?: number): Promise<DeviceEntry> {
    const fingerprint = typeof device === 'string' ? device : device.fingerprint;
    const entry = await unlinkEntry(this.state, author, fingerprint, at ?? this.state.lastAt + 1);
    await this.append(entry);
    return entry;
  }

  /** Chain entries after `seq` (what a `devices` entry carries to a log that holds the chain up to `seq`). */
  after(seq: number): DeviceEntry[] {
    return structuredClone(this.entries.slice(seq + 1));
  }
}

export interface DevicesChange {
  entry: LogEntry;
  state: GroupState;
  /** Present when the entry unlinked a device the log had: the new generation's seed and its boxes. */
  seed?: Uint8Array;
  boxes: KeyBox[];
}

/**
 * The `devices` entry that brings the log's copy of `person`'s chain up to date, signed
 * by `author` (one of the person's current devices, or an admin), with a rotation from
 * `held` when it unlinks a device the log had. Validated before it is returned.
 */
export async function devicesChange(state: GroupState, author: DeviceIdentity, person: TestPerson, held: Uint8Array, at: number, options: { rotate?: boolean } = {}): Promise<DevicesChange> {
  const logged = state.members.get(person.id)?.chain;
  if (!logged) throw new Error(`${person.id} is not a member with a chain`);
  const entries = person.after(logged.seq);
  const unlinks = entries.some((e) => e.op === 'unlink' && state.devices.get(e.body.device)?.person === person.id);
  if (!(options.rotate ?? unlinks)) {
    const entry = await nextEntry(state, author, 'devices', { person: person.id, entries }, at);
    return { entry, state: await extendLog(state, [entry]), boxes: [] };
  }
  const generation = currentGeneration(state) + 1;
  const { seed, rotation } = await makeRotation(state.groupId, generation, new Map([[currentGeneration(state), held]]));
  const entry = await nextEntry(state, author, 'devices', { person: person.id, entries, rotation }, at);
  const next = await extendLog(state, [entry]);
  const { boxes } = await sealToRecipients(next, author, generation, seed, at);
  return { entry, state: next, seed, boxes };
}
