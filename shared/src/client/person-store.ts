/**
 * Where a device keeps device chains (DESIGN §3), next to its `KeyStore`: its own
 * person's chain with the head it pinned and the profile it hands to a newly linked
 * device, and the chains of other people it has validated (so a server that rolls one
 * back or forks it is caught, and a device unlinked there is never sealed to). Nothing
 * here is secret: chains are public, the profile is the person's own display data.
 */
import type { PersonState } from '../crypto/device-chain.ts';
import type { Fingerprint } from '../protocol/ids.ts';
import type { DeviceEntry, LogHead } from '../protocol/schemas.ts';

/** A device chain this device validated itself, and the head it pinned. */
export interface PinnedChain {
  person: Fingerprint;
  entries: DeviceEntry[];
  head: LogHead;
}

/** What a person shows on every device of theirs: handed over when a device is linked. */
export interface Profile {
  name?: string;
  settings?: Record<string, unknown>;
}

/** This device's own person. */
export interface PersonRecord extends PinnedChain {
  profile?: Profile;
}

/** Persistence for device chains. Implementations must store copies, not references. */
export interface PersonStore {
  /** This device's own person; null before it founded one or was linked into one. */
  load(): Promise<PersonRecord | null>;
  save(record: PersonRecord): Promise<void>;
  /** Another person's chain as this device last validated it (structured-cloneable). */
  known(person: Fingerprint): Promise<PersonState | undefined>;
  /** Pins another person's chain (always a validated extension of what was known). */
  keep(state: PersonState): Promise<void>;
}

/** A `PersonStore` in memory: it clones on the way in and out, as IndexedDB would. */
export class MemoryPersonStore implements PersonStore {
  private own: PersonRecord | null = null;
  private readonly others = new Map<Fingerprint, PersonState>();

  async load(): Promise<PersonRecord | null> {
    return this.own ? structuredClone(this.own) : null;
  }

  async save(record: PersonRecord): Promise<void> {
    this.own = structuredClone(record);
  }

  async known(person: Fingerprint): Promise<PersonState | undefined> {
    const state = this.others.get(person);
    return state ? structuredClone(state) : undefined;
  }

  async keep(state: PersonState): Promise<void> {
    this.others.set(state.person, structuredClone(state));
  }
}
