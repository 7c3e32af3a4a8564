/**
 * The numbered steps of a scripted story build on each other: once one fails, the rest
 * are skipped with the failed step's name, and what every open page of the clients
 * showed at that moment is saved as a screenshot. Call inside the story's `describe`.
 */
import { afterEach, beforeEach } from 'vitest';
import type { Artifacts } from './artifacts.ts';
import type { Client } from './clients.ts';

export interface StepGuard {
  /** The name of the first step that failed, or null. */
  failed(): string | null;
}

export function stopAtFirstFailure(artifacts: Artifacts, clients: () => Array<Client | undefined>): StepGuard {
  let broken: string | null = null;

  beforeEach((context) => {
    if (broken) context.skip(`an earlier step failed: ${broken}`);
  });

  afterEach(async ({ task }) => {
    if (task.result?.state !== 'fail') return;
    broken ??= task.name;
    for (const client of clients()) {
      if (!client?.online) continue;
      let i = 0;
      for (const page of client.context.pages()) {
        await artifacts.shot(page, `FAILED-${client.label.split(' ')[0]}-${++i}`).catch(() => undefined);
      }
    }
  });

  return { failed: () => broken };
}
