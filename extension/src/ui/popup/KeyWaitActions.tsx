/**
 * What a person waiting for a group's key can do from the popup (issue 14, friction 1):
 * verify the people who said they must verify them first — the verification tab opens
 * for that person at once — and open the group in the side panel (its members, its
 * waiting notice), instead of hunting for the browser's own side-panel menu.
 */
import { useState } from 'preact/hooks';
import type { GroupSummary } from '../../messages/views.ts';
import type { ExtensionError } from '../../messages/protocol.ts';
import { ErrorNotice } from '../components/ErrorNotice.tsx';
import { toExtensionError } from '../components/useAsk.ts';
import { openVerify } from '../components/verify-link.ts';
import { openNotes } from './open-panel.ts';

export function KeyWaitActions({ group, named = false }: { group: GroupSummary; /** Name the group in the buttons' labels (several groups on screen). */ named?: boolean }) {
  const [error, setError] = useState<ExtensionError | null>(null);
  if (group.hasKey || group.removed) return null;
  const name = group.name ?? 'the group you are joining';
  // The first two who refused (admins come first): enough to act on, few enough to read.
  const people = (group.keyWait?.verifyFirst ?? []).slice(0, 2);
  const go = (opening: Promise<void>) => {
    setError(null);
    opening.then(
      () => window.close(),
      (thrown: unknown) => setError(toExtensionError(thrown)),
    );
  };
  return (
    <>
      <div class="row">
        {people.map((p) => {
          const words = p.youVerified ? `Compare numbers with ${p.name}` : `Verify ${p.name}`;
          return (
            <button key={p.person} type="button" class="primary" onClick={() => go(openVerify(group.groupId, p.person))} aria-label={named ? `${words}, for ${name}` : undefined}>
              {words}
            </button>
          );
        })}
        <button type="button" onClick={() => go(openNotes(group.groupId))} aria-label={named ? `Open the group ${name} in the side panel` : 'Open the group in the side panel'}>
          Open the group
        </button>
      </div>
      {people.length > 0 &&
        (people.every((p) => p.youVerified) ? (
          <p class="hint">
            You verified {people.map((p) => p.name).join(' and ')} already: now they verify you, on their device, with the same safety number. It is on the page this
            button opens, to read out to them.
          </p>
        ) : (
          <p class="hint">Verifying opens a page with your safety number: compare it with them, in person or on a call.</p>
        ))}
      <ErrorNotice error={error} title="Could not open it" onDismiss={() => setError(null)} />
    </>
  );
}
