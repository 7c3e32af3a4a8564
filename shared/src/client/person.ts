/**
 * This device's person and the chains of other people (DESIGN §3): the device chain
 * the device speaks for (founded here on first use, or handed over by a linking
 * device), published to the storage API, refreshed from it and pinned; and the chains
 * of other people met in group logs and lookups, pinned so that a rollback or a fork is
 * refused by name and a device unlinked in a pinned chain is never sealed to, even
 * before a group log catches up.
 */
import { chainHead, checkPinnedChainHead, extendChain, foundEntry, replayChain, unlinkEntry, type PersonState } from '../crypto/device-chain.ts';
import { DeviceChainError } from '../crypto/errors.ts';
import type { GroupState } from '../crypto/group-log.ts';
import type { DeviceIdentity } from '../crypto/identity.ts';
import type { Fingerprint } from '../protocol/ids.ts';
import type { DeviceEntry } from '../protocol/schemas.ts';
import type { ApiClient } from './api-session.ts';
import { ApiCallError, call } from './errors.ts';
import type { PersonRecord, PersonStore, Profile } from './person-store.ts';

/** One device of this device's person, as its validated chain lists it. */
export interface OwnDevice {
  fingerprint: Fingerprint;
  addedAt: number;
  /** The device that certified it; null for the founding device. */
  addedBy: Fingerprint | null;
  thisDevice: boolean;
  unlinked?: { at: number; by: Fingerprint };
}

export interface PersonView {
  person: Fingerprint;
  devices: OwnDevice[];
  profile?: Profile;
}

/** The devices of a validated chain: current ones in link order, then unlinked ones. */
export function devicesOfChain(state: PersonState, me: Fingerprint): OwnDevice[] {
  const current = [...state.devices.values()].map((d) => ({ fingerprint: d.fingerprint, addedAt: d.addedAt, addedBy: d.addedBy, thisDevice: d.fingerprint === me }));
  const gone = [...state.unlinked.values()].map((d) => ({ fingerprint: d.fingerprint, addedAt: d.addedAt, addedBy: d.addedBy, thisDevice: d.fingerprint === me, unlinked: { at: d.removedAt, by: d.removedBy } }));
  return [...current, ...gone];
}

/** Compares two validated chains of one person: the shorter must be a prefix of the longer. @throws {DeviceChainError} `fork` */
export function assertSameLine(a: PersonState, b: PersonState): void {
  const [short, long] = a.seq <= b.seq ? [a, b] : [b, a];
  if (long.hashes[short.seq] !== short.head) {
    throw new DeviceChainError('fork', `${a.person}'s device list differs between two copies this device has seen, at entry ${short.seq}`, short.seq);
  }
}

/** How often a chain append is rebuilt after losing a compare-and-set race. */
const CHAIN_APPEND_ATTEMPTS = 4;

export class PersonKeeper {
  /** Validated chains by person (own and others'), so each is replayed once per run. */
  private readonly states = new Map<Fingerprint, PersonState>();
  private published = false;
  private ownRecord: PersonRecord | undefined;

  constructor(
    private readonly identity: DeviceIdentity,
    private readonly store: PersonStore | undefined,
    private readonly api: () => ApiClient,
    private readonly now: () => number,
  ) {}

  /** This device's person record, founded here (entry 0 only, unpublished) on first use. */
  async record(): Promise<PersonRecord> {
    // Read from the store each time: another client of this device (a CLI command, an
    // extension context) may have moved the person on. Without a store, kept in memory.
    if (!this.store && this.ownRecord) return this.ownRecord;
    const saved = await this.store?.load();
    if (saved) return (this.ownRecord = saved);
    const found = await foundEntry(this.identity);
    const state = await replayChain([found], { now: this.now() });
    const record: PersonRecord = { person: state.person, entries: [found], head: chainHead(state) };
    await this.store?.save(record);
    return (this.ownRecord = record);
  }

  /** The chain this device puts in a `create` or `add` entry: its person's, as pinned. */
  async chain(): Promise<DeviceEntry[]> {
    return (await this.record()).entries;
  }

  /** The validated state of this device's own person. */
  async own(): Promise<PersonState> {
    const record = await this.record();
    const cached = this.states.get(record.person);
    if (cached && cached.head === record.head.hash) return cached;
    const state = await replayChain(record.entries, { person: record.person, now: this.now() });
    this.states.set(state.person, state);
    return state;
  }

  async view(): Promise<PersonView> {
    const record = await this.record();
    const state = await this.own();
    return { person: state.person, devices: devicesOfChain(state, this.identity.fingerprint), ...(record.profile ? { profile: record.profile } : {}) };
  }

  async setProfile(profile: Profile): Promise<void> {
    const record = { ...(await this.record()), profile };
    await this.store?.save(record);
    this.ownRecord = record;
  }

  /**
   * Publishes the person's chain when the server holds none (a founding device's entry
   * 0); a chain the server already holds is refreshed instead. Once per run.
   */
  async publish(): Promise<void> {
    if (this.published) return;
    const record = await this.record();
    let held = true;
    try {
      await call("reading this person's devices", () => this.api().people.get.query({ person: record.person }));
    } catch (error) {
      if (!(error instanceof ApiCallError && error.is('NOT_FOUND'))) throw error;
      held = false;
    }
    if (!held) {
      try {
        await call('publishing this device', () => this.api().people.append.mutate({ person: record.person, entries: record.entries }));
      } catch (error) {
        // Published meanwhile (another call of this very device): the refresh below checks it.
        if (!(error instanceof ApiCallError && error.is('CONFLICT'))) throw error;
      }
    }
    await this.refresh();
    this.published = true;
  }

  /**
   * The person's chain from the server, validated as an extension of the pinned one and
   * pinned in turn.
   * @throws {DeviceChainError} `rollback`, `fork`, `wrong-person`, or the rule an entry breaks.
   */
  async refresh(): Promise<PersonState> {
    const record = await this.record();
    const answer = await call("reading this person's devices", () => this.api().people.get.query({ person: record.person }));
    const state = await replayChain(answer.entries, { person: record.person, pinned: record.head, now: this.now() });
    if (state.seq > record.head.seq) await this.adopt({ ...record, entries: answer.entries, head: chainHead(state) }, state);
    else this.states.set(state.person, await this.own());
    return this.states.get(record.person)!;
  }

  /**
   * Appends entries to the person's chain on the server (compare-and-set), then pins the result.
   * @throws {ApiCallError} CONFLICT when the chain moved meanwhile (refresh and build again).
   */
  async append(entries: DeviceEntry[]): Promise<PersonState> {
    const record = await this.record();
    const state = await extendChain(await this.own(), entries, { now: this.now() });
    await call("changing this person's devices", () => this.api().people.append.mutate({ person: record.person, entries }));
    await this.adopt({ ...record, entries: [...record.entries, ...entries], head: chainHead(state) }, state);
    return state;
  }

  /**
   * Unlinks `device` from this person on the server (signed by this device), rebuilt on
   * the newer chain when another device changed it meanwhile.
   * @throws {DeviceChainError} `self-unlink`, `not-a-device`, `last-device`.
   */
  async unlink(device: Fingerprint): Promise<PersonState> {
    await this.publish();
    for (let attempt = 0; ; attempt++) {
      const current = await this.refresh();
      try {
        return await this.append([await unlinkEntry(current, this.identity, device, this.now())]);
      } catch (error) {
        if (!(error instanceof ApiCallError && error.is('CONFLICT')) || attempt + 1 >= CHAIN_APPEND_ATTEMPTS) throw error;
      }
    }
  }

  /** Keeps a newer validated chain of this device's own person (one handed over by a linking device). */
  async adopt(record: PersonRecord, state: PersonState): Promise<void> {
    await this.store?.save(record);
    this.ownRecord = record;
    this.states.set(state.person, state);
  }

  /**
   * A chain of `person` this device has pinned: its own person's, or one met before.
   * Without a `PersonStore` only what was met in this run.
   */
  async pinned(person: Fingerprint): Promise<PersonState | undefined> {
    const record = await this.record();
    if (person === record.person) return this.own();
    const cached = this.states.get(person);
    if (cached) return cached;
    const known = await this.store?.known(person);
    if (known) this.states.set(person, known);
    return known;
  }

  /**
   * Pins the chain `met` (from a group log or a lookup) when it is newer than the one
   * pinned; a copy behind the pinned one must be a prefix of it.
   * @param asLookup a lookup's answer must not be behind the pinned chain (a group log may be).
   * @returns how `met` compares with this device's own pinned chain, for its own person.
   * @throws {DeviceChainError} `fork`, or `rollback` for a lookup.
   */
  async observe(met: PersonState, options: { asLookup?: boolean } = {}): Promise<'same' | 'behind' | 'ahead'> {
    const pinned = await this.pinned(met.person);
    if (pinned) {
      if (options.asLookup) checkPinnedChainHead(met, chainHead(pinned));
      assertSameLine(pinned, met);
    }
    const order = !pinned || met.seq > pinned.seq ? 'ahead' : met.seq < pinned.seq ? 'behind' : 'same';
    if (order === 'ahead' && met.person !== (await this.record()).person) {
      this.states.set(met.person, met);
      await this.store?.keep(met);
    }
    return order;
  }

  /** Pins every member chain of a validated group log. @throws {DeviceChainError} `fork` */
  async observeGroup(state: GroupState, before?: GroupState): Promise<void> {
    for (const member of state.members.values()) {
      if (!member.chain) continue;
      if (before?.members.get(member.fingerprint)?.chain?.head === member.chain.head) continue;
      await this.observe(member.chain);
    }
  }

  /**
   * Devices the group log still lists but a chain this device pinned has unlinked:
   * nothing is sealed to them, whatever the log says. Hashes are compared, not only
   * lengths: a log copy that differs from the pinned chain at a seq both have (a thief's
   * device continuing one group's copy on its own, THREAT-MODEL §4 item 9) is a fork.
   * @throws {DeviceChainError} `fork`
   */
  async unlinkedInPinned(state: GroupState): Promise<Set<Fingerprint>> {
    const stale = new Set<Fingerprint>();
    for (const member of state.members.values()) {
      if (!member.chain) continue;
      const pinned = await this.pinned(member.fingerprint);
      if (!pinned) continue;
      assertSameLine(pinned, member.chain);
      if (pinned.seq <= member.chain.seq) continue;
      for (const device of state.devices.values()) {
        if (device.person === member.fingerprint && pinned.unlinked.has(device.fingerprint)) stale.add(device.fingerprint);
      }
    }
    return stale;
  }
}
