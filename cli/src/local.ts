/**
 * What this device remembers besides the SDK's records:
 *
 * - `trust.json`: the devices this device verified by safety number (per fingerprint,
 *   as in the extension: trust belongs to a key, not a person), with when. Public
 *   fingerprints only; mode 0600.
 * - `names.sealed`: the names learned from meta notes (group names, members' display
 *   names) and which profile this device last published per group. Names are group
 *   content, encrypted on the server, so they are sealed here too.
 */
import { join } from 'node:path';
import type { TrustState } from '@conclave/shared/crypto';
import { fromUtf8, utf8, type Fingerprint, type GroupId } from '@conclave/shared/protocol';
import { open, seal } from './at-rest.ts';
import { CliError, EXIT } from './errors.ts';
import { readIfExists, writeAtomic } from './files.ts';

interface TrustFile {
  verified: Record<string, { at: number }>;
}

export class TrustBook {
  private file: TrustFile;

  constructor(private readonly path: string) {
    const raw = readIfExists(path);
    try {
      this.file = raw ? (JSON.parse(raw.toString('utf8')) as TrustFile) : { verified: {} };
      if (typeof this.file.verified !== 'object' || this.file.verified === null) throw new Error('shape');
    } catch {
      throw new CliError(EXIT.damaged, `the trust file ${path} is damaged. Nothing was changed. Put back a backup, or delete it and verify your members again.`);
    }
  }

  trustOf(fingerprint: Fingerprint): TrustState {
    return Object.hasOwn(this.file.verified, fingerprint) ? 'verified' : 'unverified';
  }

  verifiedAt(fingerprint: Fingerprint): number | undefined {
    return Object.hasOwn(this.file.verified, fingerprint) ? this.file.verified[fingerprint]!.at : undefined;
  }

  markVerified(fingerprint: Fingerprint, at: number): void {
    this.file.verified[fingerprint] = { at };
    writeAtomic(this.path, `${JSON.stringify(this.file, null, 2)}\n`);
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
