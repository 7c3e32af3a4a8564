/**
 * The `conclave` command (docs/CLI.md): a Conclave device on the command line, on the
 * same client SDK as the extension. `main(argv, io)` parses the arguments with
 * commander, runs one command and returns its exit code (errors.ts); it never throws
 * and never prints a stack trace. Tests call it in process with their own `io`.
 */
import { Command, CommanderError, Option } from 'commander';
import { Device, serverOf, type Context, type GlobalOptions } from './device.ts';
import { CliError, EXIT, explain } from './errors.ts';
import { checkTargetDir, stateDir } from './files.ts';
import { resolve } from 'node:path';
import { processIo, type Io } from './io.ts';
import { terminalSafe } from './output.ts';
import * as identity from './commands/identity.ts';
import * as groups from './commands/groups.ts';
import * as joining from './commands/join.ts';
import { verify } from './commands/verify.ts';
import * as devices from './commands/devices.ts';
import * as linking from './commands/device-link.ts';
import * as notes from './commands/notes.ts';
import { exportGroup } from './commands/export.ts';
import { serve } from './live.ts';
import { watch } from './commands/watch.ts';

const json = (what = 'print the result as JSON (docs/CLI.md "JSON")') => new Option('--json', what);

type Handler = (ctx: Context, args: string[], options: Record<string, unknown>) => Promise<void>;

/**
 * A whole group or note id is 22 base64url characters, and one in 64 starts with '-',
 * which commander would take for an option. No option of ours looks like that, so such a
 * word is marked before parsing (up to a literal `--`) and unmarked in every argument and
 * option value the handler gets.
 */
const DASHED_ID = /^-[A-Za-z0-9_-]{21}$/;
const ID_MARK = '\u0001';

function markDashedIds(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((word, i) => ((end < 0 || i < end) && DASHED_ID.test(word) ? ID_MARK + word : word));
}

function unmark<T>(value: T): T {
  return (typeof value === 'string' && value.startsWith(ID_MARK) ? value.slice(ID_MARK.length) : value) as T;
}

export async function main(argv: string[], rawIo: Io = processIo(), options: { now?: () => number } = {}): Promise<number> {
  // Names, titles and bodies come from other members: no control sequence reaches the terminal.
  const io = terminalSafe(rawIo);
  let ctx: Context | undefined;
  let failure: unknown;

  const program = new Command('conclave');
  program
    .description('Conclave on the command line: end-to-end encrypted group notes for small trusted groups.')
    .option('--home <dir>', 'state directory (default: $CONCLAVE_HOME, else ~/.conclave)')
    .option('--server <url>', 'storage API address (default: $CONCLAVE_SERVER, else the one `init` kept)')
    .option('--signal <url>', 'signaling server for the live key handover, e.g. http://host:9000/peerjs (default: $CONCLAVE_SIGNAL)')
    .option('-y, --yes', 'answer yes to confirmations (removing, leaving, deleting; never verifying: see verify --number)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showSuggestionAfterError()
    .addHelpText('after', '\nExit codes and files: docs/CLI.md. Every command has --help.');

  const run = (handler: Handler) =>
    async function (this: Command, ...raw: unknown[]) {
      const command = raw[raw.length - 1] as Command;
      const opts = Object.fromEntries(Object.entries(command.opts()).map(([key, value]) => [key, unmark(value)]));
      const all = command.optsWithGlobals() as Partial<GlobalOptions> & { home?: string };
      const global: GlobalOptions = { home: stateDir(all.home, io.env) };
      if (all.server) global.server = all.server;
      if (all.signal) global.signal = all.signal as string;
      if (all.yes) global.yes = true;
      ctx = { io, global, now: options.now ?? Date.now };
      const args = raw.slice(0, -2).map((a) => a as string | string[]).flat().map(unmark);
      await handler(ctx, args, opts);
    };
  /** A handler that needs the unlocked device; it runs holding the state directory's lock (lock.ts). */
  const onDevice = (handler: (device: Device, args: string[], options: Record<string, unknown>) => Promise<void>): Handler => async (c, args, opts) => {
    const device = await Device.unlock(c);
    await device.locked(() => handler(device, args, opts));
  };
  /** The same without the lock: the handler takes it for each piece of work (`serve`). */
  const onDeviceUnlocked = (handler: (device: Device, args: string[], options: Record<string, unknown>) => Promise<void>): Handler => async (c, args, opts) => handler(await Device.unlock(c), args, opts);

  program.command('init').description('create this device\'s identity: a display name and keys, encrypted under a passphrase').option('--name <name>', 'your name, as members will see it').addOption(json()).action(run((c, _a, o) => identity.init(c, o)));
  program.command('whoami').description('show this device\'s name and fingerprint (no passphrase needed)').addOption(json()).action(run((c, _a, o) => identity.whoami(c, o)));
  program.command('rename <name>').description('change your display name in every group').action(run(onDevice((d, [name]) => identity.rename(d, name!))));

  const group = program.command('group').description('groups: create, list, members, invite, remove, rotate, leave, handover, recovery');
  group.command('create <name>').description('create a group with this device as its admin; prints the recovery code once').addOption(new Option('--policy <policy>', 'who gets the key by mailbox').choices(['verified', 'invite-trust']).default('verified')).addOption(json()).action(run(onDevice((d, [name], o) => groups.create(d, name!, o))));
  group.command('list').description('the groups on this device (synced with the server first)').option('--offline', 'do not contact the server').addOption(json()).action(run(onDevice((d, _a, o) => groups.list(d, o))));
  group.command('members <group>').description('the members of a group, their roles and whether you verified them').addOption(json()).action(run(onDevice((d, [g], o) => groups.members(d, g!, o))));
  group
    .command('invite <group>')
    .description('make an invite link (admins): give it to one person only')
    .addOption(new Option('--role <role>', 'the joiner\'s role').choices(['member', 'admin']).default('member'))
    .option('--expires <duration>', 'how long it works: 30m, 12h, 7d (1 minute to 30 days)', '7d')
    .option('--prekeyed', 'seal the group key to the invite: the joiner reads at once, trusted by link until verified')
    .addOption(json())
    .action(run(onDevice((d, [g], o) => groups.invite(d, g!, o))));
  group.command('remove <group> <member>').description('remove a member (admins): a new key, sealed to everyone else').addOption(json()).action(run(onDevice((d, [g, m], o) => groups.remove(d, g!, m!, o))));
  group.command('rotate <group>').description('make a new group key now (admins), with nobody removed').addOption(json()).action(run(onDevice((d, [g], o) => groups.rotate(d, g!, o))));
  group.command('leave <group>').description('leave a group: this device forgets its keys').action(run(onDevice((d, [g]) => groups.leave(d, g!))));
  group.command('recovery <group>').description('replace the recovery code (admins): the old one stops working; prints the new one once').addOption(json()).action(run(onDevice((d, [g], o) => groups.recovery(d, g!, o))));
  group.command('handover <group>').description('hand the key to verified members waiting in the mailbox (admins)').addOption(json()).action(run(onDevice((d, [g], o) => groups.handover(d, g!, o))));

  program
    .command('join [invite]')
    .description('join a group with an invite link or code: `-` reads it from stdin; without it, $CONCLAVE_INVITE or a hidden prompt')
    .option('--wait <seconds>', 'wait this long for the key from the mailbox')
    .option('--live', 'ask online members for the key over WebRTC first (needs @roamhq/wrtc and --signal)')
    .addOption(json())
    .action(run(onDevice((d, [text], o) => joining.join(d, text, o))));
  program
    .command('verify <groupOrMember> [member]')
    .description('show the safety number with a member, and record them as verified once it matches (admins then hand them the key)')
    .option('--number <digits>', 'the 60 digits the other device shows: recorded only if they match')
    .option('--trust-without-comparing', 'record the member as verified WITHOUT comparing the safety number (an admin device then hands them the key)')
    .addOption(json())
    .action(run(onDevice((d, args, o) => verify(d, args.filter((a) => a !== undefined), o))));

  const device = program.command('devices').description('your devices (one person, several devices): list, link, add, remove');
  device.command('list', { isDefault: true }).description('the devices that speak for you: this one marked, when each was added and by which device').addOption(json()).action(run(onDevice((d, _a, o) => devices.list(d, o))));
  device
    .command('link')
    .description('on a NEW device: show a code (and QR) to link it to your identity, and wait for your other device (needs --signal and Node WebRTC)')
    .option('--for <seconds>', 'how long the code stands (default 600, at most 900)')
    .addOption(json('one JSON object per line: the offer, then the result'))
    .action(run(onDevice((d, _a, o) => linking.link(d, o))));
  device
    .command('add [code]')
    .description('on a device already yours: link the new device showing this code (`-` reads it from stdin; without it, $CONCLAVE_LINK_CODE or a hidden prompt)')
    .option('--device <fingerprint>', 'the fingerprint the new device shows: linked only if it matches (instead of being asked)')
    .addOption(json())
    .action(run(onDevice((d, [code], o) => linking.add(d, code, o))));
  device
    .command('remove <device>')
    .description('remove one of your devices (lost or sold), from another of yours: every group\'s key is changed, so it reads nothing new')
    .addOption(json())
    .action(run(onDevice((d, [fp], o) => devices.remove(d, fp!, o))));

  const note = program.command('notes').description('notes: ls, cat, put, edit, rm, watch');
  note.command('ls <group>').description('list the notes of a group').option('--deleted', 'include deleted notes').addOption(json()).action(run(onDevice((d, [g], o) => notes.ls(d, g!, o))));
  note.command('cat <group> <note>').description('print a note (by id, id prefix or title)').option('--version <n>', 'an older version').addOption(json()).action(run(onDevice((d, [g, n], o) => notes.cat(d, g!, n!, o))));
  note
    .command('put <group>')
    .description('write a note: the body from --body, --file or standard input')
    .option('--title <title>', 'the title (needed for a new note)')
    .option('--body <text>', 'the body')
    .option('--file <path>', 'read the body from this file')
    .option('--note <note>', 'write the next version of this note instead of a new one')
    .option('--batch', 'read one JSON object per line on stdin ({"title","body"} or {"note","body"}) and write them all')
    .addOption(json())
    .action(run(onDevice((d, [g], o) => notes.put(d, g!, o))));
  note.command('edit <group> <note>').description('edit a note in $VISUAL or $EDITOR (first line: the title)').addOption(json()).action(run(onDevice((d, [g, n], o) => notes.edit(d, g!, n!, o))));
  note
    .command('watch <group>')
    .description('print notes as members write, edit or delete them (live; until Ctrl-C)')
    .option('--for <seconds>', 'stop after this long')
    .addOption(json('one JSON object per line'))
    .action(run(onDeviceUnlocked((d, [g], o) => watch(d, g!, o))));
  note.command('rm <group> <note>').description('delete a note for every member (a signed deletion)').addOption(json()).action(run(onDevice((d, [g, n], o) => notes.rm(d, g!, n!, o))));

  program.command('export <group> <dir>').description('write the group\'s notes as Markdown files into a local directory (plaintext)').option('--force', 'write into a directory that is not empty').addOption(json()).action(
      run(onDevice((d, [g, dir], o) => {
        checkTargetDir(resolve(dir!));
        return exportGroup(d, g!, dir!, o);
      })),
    );
  program
    .command('serve')
    .description('stay online as a key holder and hand the key live to members who ask (needs --signal and Node WebRTC)')
    .option('--for <seconds>', 'stop after this long (default: until Ctrl-C)')
    .option('--mailbox', 'also answer key requests in the mailbox as they arrive (admins)')
    .action(run(onDeviceUnlocked((d, _a, o) => serve(d, o))));
  program
    .command('restore [code]')
    .description('restore a group on this device from its recovery code (becomes an admin): `-` reads it from stdin; without it, $CONCLAVE_RECOVERY_CODE or a hidden prompt')
    .addOption(json())
    .action(run(onDevice((d, [code], o) => joining.restore(d, code, o))));

  try {
    await program.parseAsync(markDashedIds(argv), { from: 'user' });
    if (program.args.length === 0 && argv.length === 0) program.outputHelp();
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' || error.exitCode === 0) return EXIT.ok;
      // Commander has printed what was wrong; an id that starts with '-' (base64url) needs one more word.
      const dashed = error.code === 'commander.unknownOption' ? /'(-[^-'][^']*)'/.exec(error.message)?.[1] : undefined;
      if (dashed && dashed.length > 2) {
        const words = argv.filter((word) => !word.startsWith('-')).slice(0, 2).join(' ');
        io.err(`If ${dashed} is (the start of) a group, note or member id, put -- before the group and note: conclave ${words} -- <group> ${dashed} (options such as --json go before the --).\n`);
      }
      return EXIT.usage;
    }
    failure = error;
  }
  const server = ctx ? serverOfQuietly(ctx) : undefined;
  const { exitCode, message } = explain(failure, server);
  io.err(`conclave: ${message}\n`);
  return exitCode;
}

function serverOfQuietly(ctx: Context): string | undefined {
  try {
    return serverOf(ctx);
  } catch {
    return undefined;
  }
}

export { CliError, EXIT };
