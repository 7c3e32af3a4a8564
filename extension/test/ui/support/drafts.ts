/** The mocked `ask`s of several component tests keep drafts the same way; this is that draft store, once. */
import type { Request } from '../../../src/messages/protocol.ts';

/**
 * Answers draft.load, draft.save and draft.clear from `drafts` (a saved value is copied
 * when `copy`, as the message channel would); `undefined` for any other request.
 */
export function answerDraft(drafts: Map<string, unknown>, request: Request, copy = false): { answer: unknown } | undefined {
  switch (request.type) {
    case 'draft.load':
      return { answer: drafts.get(request.key) ?? null };
    case 'draft.save':
      drafts.set(request.key, copy ? structuredClone(request.value) : request.value);
      return { answer: null };
    case 'draft.clear':
      drafts.delete(request.key);
      return { answer: null };
    default:
      return undefined;
  }
}
