/**
 * One run of a command on this device: the state directory, the passphrase, the
 * unlocked identity, the file stores, and — for commands that need the server — a
 * `GroupClient` signed in to the storage API. Every server call goes through that
 * client (the SDK); the CLI never opens a session of its own.
 */
import { join } from 'node:path';
import { GroupClient } from '@conclave/shared/client';
import type { DeviceIdentity } from '@conclave/shared/crypto';
import type { GroupId } from '@conclave/shared/protocol';
import { z } from 'zod';
import type { AtRestKeys } from './at-rest.ts';
import { CliError, EXIT } from './errors.ts';
import { readIfExists, writeAtomic } from './files.ts';
import { readKeyFile, unlockKeyFile, type KeyFile } from './identity-file.ts';
import type { Io } from './io.ts';
import { lockStateDir } from './lock.ts';
import { removeLeftoverEdits } from './edit-files.ts';
import { NameBook, TrustBook } from './local.ts';
import { FileKeyStore, FileNoteStore, FilePersonStore } from './stores.ts';

/** Options every command takes (docs/CLI.md "Global options"). */
export interface GlobalOptions {
  home: string;
  server?: string;
  /** The signaling server (PeerJS) address for the live handover. */
  signal?: string;
  yes?: boolean;
}

export interface Context {
  io: Io;
  global: GlobalOptions;
  now: () => number;
}

export const paths = (home: string) => ({
  keyFile: join(home, 'identity.json'),
  config: join(home, 'config.json'),
  trust: join(home, 'trust.sealed'),
  person: join(home, 'person.sealed'),
  people: join(home, 'people'),
  groups: join(home, 'groups'),
  notes: join(home, 'notes'),
  tmp: join(home, 'tmp'),
});

const configSchema = z.object({ server: z.string().url().optional() });
export type Config = z.infer<typeof configSchema>;

export function readConfig(home: string): Config {
  const raw = readIfExists(paths(home).config);
  if (!raw) return {};
  try {
    return configSchema.parse(JSON.parse(raw.toString('utf8')));
  } catch {
    throw new CliError(EXIT.damaged, `the settings file ${paths(home).config} is damaged: fix it or delete it and pass --server.`);
  }
}

export function writeConfig(home: string, config: Config): void {
  writeAtomic(paths(home).config, `${JSON.stringify(config, null, 2)}\n`);
}

/** The storage API address: --server, else CONCLAVE_SERVER, else the one `init` kept. */
export function serverOf(ctx: Context): string | undefined {
  return ctx.global.server ?? ctx.io.env.CONCLAVE_SERVER ?? readConfig(ctx.global.home).server;
}

/** The passphrase: CONCLAVE_PASSPHRASE, else asked on the terminal without echo. */
export async function passphraseOf(ctx: Context, question = 'Passphrase: '): Promise<string> {
  const fromEnv = ctx.io.env.CONCLAVE_PASSPHRASE;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!ctx.io.askSecret) throw new CliError(EXIT.passphrase, 'no passphrase: run this in a terminal to type it, or set CONCLAVE_PASSPHRASE for scripts.');
  const typed = await ctx.io.askSecret(question);
  if (!typed) throw new CliError(EXIT.passphrase, 'no passphrase typed: nothing was done.');
  return typed;
}

/** This device, unlocked: identity and local stores (no network yet). */
export class Device {
  private clientPromise: Promise<GroupClient> | undefined;

  private constructor(
    readonly ctx: Context,
    readonly identity: DeviceIdentity,
    readonly displayName: string,
    readonly keyFile: KeyFile,
    readonly keys: AtRestKeys,
    readonly store: FileKeyStore,
    readonly noteStore: FileNoteStore,
    readonly personStore: FilePersonStore,
    private trustBook: TrustBook,
    private nameBook: NameBook,
  ) {}

  get trust(): TrustBook {
    return this.trustBook;
  }

  get names(): NameBook {
    return this.nameBook;
  }

  /**
   * Runs `work` holding the state directory's lock (lock.ts), with the trust list and
   * names read afresh under it: another process may have changed them meanwhile.
   */
  async locked<T>(work: () => Promise<T>): Promise<T> {
    await this.lock();
    try {
      return await work();
    } finally {
      this.unlockDir();
    }
  }

  /**
   * Runs `work` (an editor) with the lock let go, and takes it again after: other
   * commands, and `serve`'s handovers, need not wait for a person typing.
   */
  async outsideLock<T>(work: () => Promise<T>): Promise<T> {
    if (!this.release) return work();
    this.unlockDir();
    try {
      return await work();
    } finally {
      await this.lock();
    }
  }

  private release: (() => void) | undefined;

  private async lock(): Promise<void> {
    const home = this.ctx.global.home;
    this.release = await lockStateDir(home, { onWait: (pid) => this.progress(`Waiting for another conclave process (pid ${pid}) on ${home}…`) });
    try {
      removeLeftoverEdits(paths(home).tmp);
      this.trustBook = await TrustBook.open(home, this.keys.store);
      this.nameBook = await NameBook.open(home, this.keys.store);
    } catch (error) {
      this.unlockDir();
      throw error;
    }
  }

  private unlockDir(): void {
    this.release?.();
    this.release = undefined;
  }

  /** The same unlocked device under another display name (after `rename`). */
  async renamed(displayName: string, file: KeyFile): Promise<Device> {
    return Device.fromKeys(this.ctx, this.identity, displayName, file, this.keys);
  }

  static async unlock(ctx: Context): Promise<Device> {
    const p = paths(ctx.global.home);
    // Fail on a missing or damaged key file before asking for a passphrase.
    readKeyFile(p.keyFile);
    const passphrase = await passphraseOf(ctx);
    const unlocked = await unlockKeyFile(p.keyFile, passphrase);
    return Device.fromKeys(ctx, unlocked.identity, unlocked.displayName, unlocked.file, unlocked.keys);
  }

  static async fromKeys(ctx: Context, identity: DeviceIdentity, displayName: string, file: KeyFile, keys: AtRestKeys): Promise<Device> {
    const p = paths(ctx.global.home);
    return new Device(ctx, identity, displayName, file, keys, new FileKeyStore(p.groups, keys.store), new FileNoteStore(p.notes), new FilePersonStore(p.person, p.people, keys.store), await TrustBook.open(ctx.global.home, keys.store), await NameBook.open(ctx.global.home, keys.store));
  }

  get fingerprint() {
    return this.identity.fingerprint;
  }

  get server(): string {
    const server = serverOf(this.ctx);
    if (!server) throw new CliError(EXIT.setup, 'no storage API address: pass --server <url>, set CONCLAVE_SERVER, or keep one with `conclave init --server <url>`.');
    return server;
  }

  /** The SDK client, signed in on first use. */
  client(): Promise<GroupClient> {
    this.clientPromise ??= GroupClient.connect(this.server, this.identity, this.store, {
      notes: this.noteStore,
      people: this.personStore,
      now: this.ctx.now,
      // Trust is in people (person ids), whichever of their devices asks.
      trustOf: (_groupId: GroupId, person) => this.trust.trustOf(person),
    });
    return this.clientPromise;
  }

  /** Progress for the person (stderr), never mixed into results. */
  progress(text: string): void {
    this.ctx.io.err(`${text}\n`);
  }
}
