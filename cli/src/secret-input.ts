/**
 * Secrets a command takes (an invite, a recovery code, a link code): an argument is visible to every
 * local user (`ps`, /proc/<pid>/cmdline) and lands in shell history, so the safe forms
 * are `-` (standard input), an environment variable, or a hidden prompt on a terminal
 * when no argument is given. The argument form still works, with a warning.
 */
import type { Context } from './device.ts';
import { CliError, EXIT } from './errors.ts';

export interface SecretSpec {
  /** What it is, for messages: "invite", "recovery code". */
  what: string;
  /** The environment variable that may hold it. */
  env: 'CONCLAVE_INVITE' | 'CONCLAVE_RECOVERY_CODE' | 'CONCLAVE_LINK_CODE';
  /** The hidden prompt on a terminal. */
  prompt: string;
  /** How the command is written, for the usage message: "conclave join". */
  usage: string;
}

/** Warns that text typed as an argument can be read by other local users. */
export function warnVisible(ctx: Context, what: string, instead: string): void {
  ctx.io.err(`conclave: warning: the ${what} on the command line is visible to other local users (ps) and kept in your shell history: ${instead}.\n`);
}

/** The secret from `arg` (`-`: standard input), else the environment, else a hidden prompt. */
export async function secretInput(ctx: Context, arg: string | undefined, spec: SecretSpec): Promise<string> {
  let text: string | undefined;
  if (arg === '-') {
    text = await ctx.io.readStdin();
  } else if (arg !== undefined) {
    warnVisible(ctx, spec.what, `next time pipe it in (\`${spec.usage} -\`), set ${spec.env}, or run \`${spec.usage}\` without it to be asked`);
    text = arg;
  } else if (ctx.io.env[spec.env]) {
    text = ctx.io.env[spec.env];
  } else if (ctx.io.askSecret) {
    text = await ctx.io.askSecret(spec.prompt);
  } else {
    throw new CliError(EXIT.usage, `no ${spec.what}: pipe it in (\`${spec.usage} -\`), set ${spec.env}, or run this in a terminal to be asked for it.`);
  }
  const trimmed = (text ?? '').trim();
  if (!trimmed) throw new CliError(EXIT.usage, `no ${spec.what} given: nothing was done.`);
  return trimmed;
}
