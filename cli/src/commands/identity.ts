/** `conclave init` and `conclave whoami`: this device's identity and key file. */
import { chainHead, foundEntry, replayChain, shortFingerprint, type DeviceIdentity } from '@conclave/shared/crypto';
import type { Fingerprint } from '@conclave/shared/protocol';
import { passphraseOf, paths, type Device, readConfig, serverOf, writeConfig, type Context } from '../device.ts';
import { CliError, EXIT } from '../errors.ts';
import { ensurePrivateDir, readIfExists } from '../files.ts';
import { createKeyFile, readKeyFile, renameInKeyFile } from '../identity-file.ts';
import { emit } from '../output.ts';
import { publishProfile } from '../names.ts';
import { FilePersonStore } from '../stores.ts';

const MIN_PASSPHRASE = 8;

export async function init(ctx: Context, options: { name?: string; json?: boolean }): Promise<void> {
  const { home } = ctx.global;
  const p = paths(home);
  if (readIfExists(p.keyFile)) {
    throw new CliError(EXIT.setup, `this state directory already has an identity (${p.keyFile}); nothing was changed. Use another directory with --home or CONCLAVE_HOME for a second identity.`);
  }
  let name = options.name?.trim();
  if (!name && ctx.io.ask) name = (await ctx.io.ask('Your name, as the members of your groups will see it: ')).trim();
  if (!name) throw new CliError(EXIT.usage, 'a display name is needed: pass --name "<your name>"');
  if (name.length > 80) throw new CliError(EXIT.usage, 'the display name is longer than 80 characters');
  const passphrase = await passphraseOf(ctx, 'New passphrase (it protects the keys on this disk): ');
  if (passphrase.length < MIN_PASSPHRASE) throw new CliError(EXIT.passphrase, `the passphrase must have at least ${MIN_PASSPHRASE} characters; nothing was created.`);
  if (!ctx.io.env.CONCLAVE_PASSPHRASE && ctx.io.askSecret) {
    const again = await ctx.io.askSecret('The same passphrase again: ');
    if (again !== passphrase) throw new CliError(EXIT.passphrase, 'the two passphrases differ; nothing was created. Run `conclave init` again.');
  }
  ensurePrivateDir(home);
  const server = serverOf(ctx);
  if (server) writeConfig(home, { ...readConfig(home), server });
  const made = await createKeyFile(p.keyFile, name, passphrase, ctx.now());
  const fingerprint = made.identity.fingerprint;
  await foundPerson(p, made.identity, made.keys.store, name, ctx.now());
  emit(ctx, options.json, { displayName: name, fingerprint, home, keyFile: p.keyFile, server: server ?? null }, [
    `Created the identity of "${name}" in ${home}.`,
    `Fingerprint: ${groupsOf(fingerprint)}`,
    `The private keys are in ${p.keyFile} (mode 0600), encrypted under your passphrase. Without the passphrase they cannot be used: there is no way to reset it.`,
    server ? `Storage API: ${server}` : 'No storage API address yet: pass --server <url> or set CONCLAVE_SERVER.',
  ]);
}

/**
 * This device founds its own person (the chain's entry 0, kept in person.sealed, not yet
 * published): the same bytes the SDK would make on first use, made here so that every
 * later command finds the directory as `init` left it. `conclave devices link` replaces
 * it with the chain of the person it joins.
 */
async function foundPerson(p: ReturnType<typeof paths>, identity: DeviceIdentity, storeKey: Uint8Array, name: string, now: number): Promise<void> {
  const found = await foundEntry(identity);
  const state = await replayChain([found], { now });
  await new FilePersonStore(p.person, p.people, storeKey).save({ person: state.person, entries: [found], head: chainHead(state), profile: { name } });
}

function groupsOf(fingerprint: Fingerprint): string {
  return fingerprint.match(/.{1,4}/g)!.join(' ');
}

export async function whoami(ctx: Context, options: { json?: boolean }): Promise<void> {
  const p = paths(ctx.global.home);
  const file = readKeyFile(p.keyFile);
  const server = serverOf(ctx) ?? null;
  emit(ctx, options.json, { displayName: file.displayName, fingerprint: file.fingerprint, short: shortFingerprint(file.fingerprint as Fingerprint), home: ctx.global.home, server, createdAt: file.createdAt }, [
    `${file.displayName}`,
    `Fingerprint: ${groupsOf(file.fingerprint as Fingerprint)}`,
    `Short:       ${shortFingerprint(file.fingerprint as Fingerprint)}`,
    `Home:        ${ctx.global.home}`,
    `Server:      ${server ?? '(none: pass --server or set CONCLAVE_SERVER)'}`,
    'A safety number belongs to a pair of devices: `conclave verify <group> <member>` shows the one you share with a member.',
  ]);
}

/** Republishes the profile in every group after a change of name. */
export async function rename(device: Device, name: string): Promise<void> {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 80) throw new CliError(EXIT.usage, 'a display name has 1 to 80 characters');
  const p = paths(device.ctx.global.home);
  // Unlocked once: the passphrase is asked (and stretched) one time.
  const file = await renameInKeyFile(p.keyFile, device.keyFile, device.keys.identity, trimmed);
  // The person's profile too: it is what a device linked from this one is handed.
  const person = await device.personStore.load();
  if (person) await device.personStore.save({ ...person, profile: { ...person.profile, name: trimmed } });
  const renamed = await device.renamed(trimmed, file);
  for (const groupId of await renamed.store.groups()) await publishProfile(renamed, groupId);
  emit(device.ctx, false, null, `Your name is now "${trimmed}" in every group.`);
}
