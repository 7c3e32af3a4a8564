/**
 * How this device trusts other people (DESIGN §3), and what it calls them. Trust rows
 * and names live in IndexedDB; the protocol asks for trust synchronously (while
 * deciding a handover), so a snapshot of both tables is kept here and refreshed from
 * the database before each piece of work.
 *
 * Trust and names are per person (protocol v3): keyed by the person id, the fingerprint
 * of the device that founded their device chain. A person who adds a device keeps their
 * id, so verifying them once covers the devices their own devices certify later. Callers
 * turn a device fingerprint into its person first (people.ts `personFor`).
 *
 * "Key changed" means the identity itself changed: a member whose published name equals
 * the name of a person this device verified under another person id (someone who lost
 * every device and came back as a new identity — or someone pretending to be them). They
 * are shown as "key changed" and refused the group key (live or by mailbox) until
 * verified again. Names are chosen by members themselves, so this is a warning to check,
 * never a proof.
 */
import type { GroupState } from '@conclave/shared/crypto';
import type { TrustState } from '@conclave/shared/crypto';
import { unnamedMemberLabel } from '@conclave/shared/client';
import type { Fingerprint } from '@conclave/shared/protocol';
import type { ConclaveDb, TrustRow } from '../db/schema.ts';
import type { TrustView } from '../messages/views.ts';
import { isMine, personFor } from './people.ts';


function sameName(a: string, b: string): boolean {
  return a.trim().toLocaleLowerCase() === b.trim().toLocaleLowerCase();
}

export class TrustBook {
  private rows = new Map<Fingerprint, TrustRow>();
  private names = new Map<Fingerprint, string>();

  constructor(
    private readonly db: ConclaveDb,
    private readonly now: () => number,
  ) {}

  /** Reads both tables again (cheap: one row per known device). */
  async refresh(): Promise<void> {
    const [rows, names] = await Promise.all([this.db.trust.toArray(), this.db.names.toArray()]);
    this.rows = new Map(rows.map((r) => [r.fingerprint, r]));
    this.names = new Map(names.map((n) => [n.fingerprint, n.name]));
  }

  name(fingerprint: Fingerprint): string | null {
    return this.names.get(fingerprint) ?? null;
  }

  /** The name to show: the published one, else the fingerprint's first groups and "name not known yet" (the SDK's `unnamedMemberLabel`). */
  displayName(fingerprint: Fingerprint): string {
    return this.names.get(fingerprint) ?? unnamedMemberLabel(fingerprint);
  }

  /** The name to show where no fingerprint is shown beside it: the same words (they carry the fingerprint). */
  labelledName(fingerprint: Fingerprint): string {
    return this.displayName(fingerprint);
  }

  /** A person verified under another person id had this person's name: see the module note. */
  private looksLikeKeyChange(fingerprint: Fingerprint): boolean {
    const name = this.names.get(fingerprint);
    if (!name) return false;
    for (const [other, row] of this.rows) {
      if (other === fingerprint || row.state !== 'verified') continue;
      const otherName = this.names.get(other);
      if (otherName && sameName(otherName, name)) return true;
    }
    return false;
  }

  /** What the protocol sees for a person: decides live and mailbox handovers. */
  trustOf(fingerprint: Fingerprint): TrustState {
    const row = this.rows.get(fingerprint);
    if (row?.state === 'verified') return 'verified';
    if (row?.state === 'key-changed' || this.looksLikeKeyChange(fingerprint)) return 'key-changed';
    return 'unverified';
  }

  /** What a page shows for a member of `state` or a note's author (a person id, or any of their devices). */
  view(state: GroupState, fingerprint: Fingerprint, me: Fingerprint): TrustView {
    if (isMine(state, fingerprint, me)) return 'verified';
    fingerprint = personFor(state, fingerprint);
    if (state.departed.get(fingerprint)?.how === 'removed') return 'removed';
    const trust = this.trustOf(fingerprint);
    if (trust !== 'unverified') return trust;
    const member = state.members.get(fingerprint);
    if (member?.via === 'invite' && member.invite && state.invites.get(member.invite)?.boxKey !== undefined) return 'trusted-by-link';
    return 'unverified';
  }

  async markVerified(fingerprint: Fingerprint, how: TrustRow['how']): Promise<void> {
    const row: TrustRow = { fingerprint, state: 'verified', how, at: this.now() };
    this.rows.set(fingerprint, row);
    await this.db.trust.put(row);
  }

  async reset(fingerprint: Fingerprint): Promise<void> {
    this.rows.delete(fingerprint);
    await this.db.trust.delete(fingerprint);
  }

  /** The name of whoever `fingerprint` speaks for in `state` (a person, or one of their devices). */
  nameIn(state: GroupState, fingerprint: Fingerprint): string {
    return this.displayName(personFor(state, fingerprint));
  }

  /** `labelledName` of whoever `fingerprint` speaks for in `state`. */
  labelledIn(state: GroupState, fingerprint: Fingerprint): string {
    return this.labelledName(personFor(state, fingerprint));
  }

  /** Keeps a name a person published (or an inviter's name from an invite link), by person id. */
  async learnName(fingerprint: Fingerprint, name: string): Promise<boolean> {
    if (this.names.get(fingerprint) === name) return false;
    this.names.set(fingerprint, name);
    await this.db.names.put({ fingerprint, name });
    return true;
  }
}
