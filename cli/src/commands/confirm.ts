/** Asking before what cannot be undone: --yes, else a question on the terminal. */
import type { Context } from '../device.ts';
import { CliError, EXIT } from '../errors.ts';

export async function confirm(ctx: Context, question: string): Promise<void> {
  if (ctx.global.yes) return;
  if (!ctx.io.ask) throw new CliError(EXIT.cancelled, 'this needs a confirmation: run it in a terminal, or pass --yes. Nothing was done.');
  const answer = (await ctx.io.ask(question)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes') throw new CliError(EXIT.cancelled, 'cancelled: nothing was done.');
}
