/**
 * Where a device keeps what it knows of each group (DESIGN §4, §5, §7 "persist
 * state"): the validated group state, the head it pinned, and the generation seeds it
 * holds. The extension implements `KeyStore` over IndexedDB (every value here is
 * structured-cloneable); `MemoryKeyStore` is for tests and short-lived tools.
 *
 * A recovery code is never kept here: `GroupClient.createGroup` returns it once.
 */
import type { GenerationFault } from '../crypto/generations.ts';
import type { GroupState } from '../crypto/group-log.ts';
import type { HeadEvidence } from '../crypto/head-evidence.ts';
import type { EntryHash, Fingerprint, GroupId } from '../protocol/ids.ts';
import type { LogHead } from '../protocol/schemas.ts';

// What members' signed heads say about the log (kept with the record; judged in peer-evidence.ts).
/** A member's signed head that is ahead of this device's log. */
export interface WitnessedHead {
  peer: Fingerprint;
  head: LogHead;
  /** When this device first saw a head of this peer's it had not reached (the bound runs from here). */
  seenAt: number;
  evidence: HeadEvidence;
}

/** A member's signed head that contradicts this device's log. */
export interface ForkEvidence {
  peer: Fingerprint;
  /** The head the peer signed. */
  head: LogHead;
  /** Our entry hash at `head.seq` when the conflict was found. */
  ours: EntryHash;
  /** `handshake`: the signed head conflicted at once; `sync`: a witnessed head was passed with another hash. */
  how: 'handshake' | 'sync';
  foundAt: number;
  evidence: HeadEvidence;
}

/** One group as this device knows it. */
export interface GroupRecord {
  groupId: GroupId;
  /** The state of the log this device validated itself, up to `pinned`. */
  state: GroupState;
  /** The highest entry validated: a log that does not extend it is a rollback or a fork. */
  pinned: LogHead;
  /** Generation seeds held, by generation number (secret: never leaves the device). */
  seeds: Map<number, Uint8Array>;
  /** Members' signed heads ahead of `pinned`, which the next syncs must reach (peer-evidence.ts). */
  witnessed?: WitnessedHead[];
  /** Members' signed heads that contradict this log, until they reconcile (peer-evidence.ts). */
  forkEvidence?: ForkEvidence[];
  /** Broken generations and key boxes this device found, attributed (DESIGN §4); shown to people. */
  faults?: GenerationFault[];
}

/** Persistence for `GroupClient`. Implementations must store copies, not references. */
export interface KeyStore {
  load(groupId: GroupId): Promise<GroupRecord | undefined>;
  save(record: GroupRecord): Promise<void>;
  /** Forgets a group and every seed of it (after leaving). */
  remove(groupId: GroupId): Promise<void>;
  groups(): Promise<GroupId[]>;
}

/** A `KeyStore` in memory: it clones on the way in and out, as IndexedDB would. */
export class MemoryKeyStore implements KeyStore {
  private readonly records = new Map<GroupId, GroupRecord>();

  async load(groupId: GroupId): Promise<GroupRecord | undefined> {
    const record = this.records.get(groupId);
    return record ? structuredClone(record) : undefined;
  }

  async save(record: GroupRecord): Promise<void> {
    this.records.set(record.groupId, structuredClone(record));
  }

  async remove(groupId: GroupId): Promise<void> {
    this.records.delete(groupId);
  }

  async groups(): Promise<GroupId[]> {
    return [...this.records.keys()];
  }
}
