/**
 * What this device remembers besides the SDK's records:
 *
 * - `trust.sealed`: the people this device verified by safety number (by person id:
 *   the fingerprint of the device that founded them, which stays theirs as they link
 *   and unlink devices — a verification covers the devices their chain certifies), with when. Sealed under
 *   the store key like the names: it decides who an admin device hands the key to, so
 *   it must not be alterable (nor readable) without the passphrase.
 * - `names.sealed`: the names learned from meta notes (group names, members' display
 *   names) and which profile this device last published per group. Names are group
 *   content, encrypted on the server, so they are sealed here too.
 */
import { join } from 'node:path';
import { z } from 'zod';
import type { TrustState } from '@conclave/shared/crypto';
import { fromUtf8, utf8, type Fingerprint, type GroupId } from '@conclave/shared/protocol';
import { open, seal } from './at-rest.ts';
import { CliError, EXIT } from './errors.ts';
import { readIfExists, writeAtomic } from './files.ts';

const trustSchema = z.strictObject({ verified: z.record(z.string().regex(/^[a-z2-7]{52}$/), z.strictObject({ at: z.number() })) });
type TrustFile = z.infer<typeof trustSchema>;

/** Associated data of the sealed trust file: what it is, so no other sealed file passes for it. */
const TRUST_WHAT = 'conclave-cli-trust/1';

export class TrustBook {
  private constructor(
    private readonly path: string,
    private readonly key: Uint8Array,
    private readonly file: TrustFile,
  ) {}

  /**
   * Opens `trust.sealed`. A clear `trust.json` (written by earlier versions) is never
   * read: nothing authenticates it, and it decides who is handed the key.
   */
  static async open(home: string, key: Uint8Array): Promise<TrustBook> {
    const path = join(home, 'trust.sealed');
    const raw = readIfExists(path);
    if (!raw) return new TrustBook(path, key, { verified: {} });
    try {
      return new TrustBook(path, key, trustSchema.parse(JSON.parse(fromUtf8(await open(key, TRUST_WHAT, new Uint8Array(raw))))));
    } catch {
      throw new CliError(EXIT.damaged, `the trust file ${path} does not open: it is damaged or from another key file. Nothing was changed. Put back a backup, or delete it and verify your members again.`);
    }
  }

  trustOf(fingerprint: Fingerprint): TrustState {
    return Object.hasOwn(this.file.verified, fingerprint) ? 'verified' : 'unverified';
  }

  verifiedAt(fingerprint: Fingerprint): number | undefined {
    return Object.hasOwn(this.file.verified, fingerprint) ? this.file.verified[fingerprint]!.at : undefined;
  }

  async markVerified(fingerprint: Fingerprint, at: number): Promise<void> {
    this.file.verified[fingerprint] = { at };
    writeAtomic(this.path, await seal(this.key, TRUST_WHAT, utf8(JSON.stringify(this.file))));
  }
}

interface NamesData {
  groups: Record<string, { name: string; version: number }>;
  /** By fingerprint: the name, and the version of the profile note it came from in each group. */
  members: Record<string, { name: string; versions: Record<string, number> }>;
  /** Per group: the display name this device last published there. */
  published: Record<string, string>;
}

export class NameBook {
  private constructor(
    private readonly path: string,
    private readonly key: Uint8Array,
    private data: NamesData,
  ) {}

  static async open(home: string, key: Uint8Array): Promise<NameBook> {
    const path = join(home, 'names.sealed');
    const raw = readIfExists(path);
    if (!raw) return new NameBook(path, key, { groups: {}, members: {}, published: {} });
    try {
      return new NameBook(path, key, JSON.parse(fromUtf8(await open(key, 'conclave-cli-names/1', new Uint8Array(raw)))) as NamesData);
    } catch {
      throw new CliError(EXIT.damaged, `the names file ${path} does not open: it is damaged or from another key file. Nothing was changed. Delete it: names come back from the group's notes.`);
    }
  }

  private async save(): Promise<void> {
    writeAtomic(this.path, await seal(this.key, 'conclave-cli-names/1', utf8(JSON.stringify(this.data))));
  }

  groupName(groupId: GroupId): string | undefined {
    return Object.hasOwn(this.data.groups, groupId) ? this.data.groups[groupId]!.name : undefined;
  }

  memberName(fingerprint: Fingerprint): string | undefined {
    return Object.hasOwn(this.data.members, fingerprint) ? this.data.members[fingerprint]!.name : undefined;
  }

  groupNameVersion(groupId: GroupId): number | undefined {
    return Object.hasOwn(this.data.groups, groupId) ? this.data.groups[groupId]!.version : undefined;
  }

  memberNameVersion(groupId: GroupId, fingerprint: Fingerprint): number | undefined {
    return Object.hasOwn(this.data.members, fingerprint) ? this.data.members[fingerprint]!.versions[groupId] : undefined;
  }

  published(groupId: GroupId): string | undefined {
    return Object.hasOwn(this.data.published, groupId) ? this.data.published[groupId] : undefined;
  }

  /** Records names; only newer versions replace older ones. Writes once. */
  async learn(update: { groups?: Array<{ groupId: GroupId; name: string; version: number }>; members?: Array<{ groupId: GroupId; fingerprint: Fingerprint; name: string; version: number }>; published?: Array<{ groupId: GroupId; name: string }> }): Promise<void> {
    let changed = false;
    for (const g of update.groups ?? []) {
      const known = Object.hasOwn(this.data.groups, g.groupId) ? this.data.groups[g.groupId] : undefined;
      if (!known || g.version > known.version || (g.version === known.version && known.name !== g.name)) {
        this.data.groups[g.groupId] = { name: g.name, version: g.version };
        changed = true;
      }
    }
    for (const m of update.members ?? []) {
      const known = Object.hasOwn(this.data.members, m.fingerprint) ? this.data.members[m.fingerprint] : undefined;
      if (!known || (known.versions[m.groupId] ?? 0) < m.version || known.name !== m.name) {
        this.data.members[m.fingerprint] = { name: m.name, versions: { ...known?.versions, [m.groupId]: m.version } };
        changed = true;
      }
    }
    for (const p of update.published ?? []) {
      if (this.data.published[p.groupId] !== p.name) {
        this.data.published[p.groupId] = p.name;
        changed = true;
      }
    }
    if (changed) await this.save();
  }

  async forgetGroup(groupId: GroupId): Promise<void> {
    delete this.data.groups[groupId];
    delete this.data.published[groupId];
    await this.save();
  }
}
