/**
 * The page ↔ background contract, checked by the type checker (`npx tsc -p
 * extension/tsconfig.json`, part of `npm test`): the answer a page gets follows from
 * the request it sends, with no type argument written at the call site, and the
 * background's handler table must answer every request type with that type's shape.
 *
 * Each `@ts-expect-error` line is a mistake the contract must refuse: if the contract
 * loosened (say `ask<T>(request: Request): Promise<T>` again), the line would compile,
 * the directive would be unused, and tsc would fail. The calls sit in functions that are
 * never run: only their types are tested (vitest runs the one check at the end).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Fingerprint, GroupId, NoteId } from '@conclave/shared/protocol';
import type { Answers, Handlers, JoinAnswer, RemoveAnswer, RequestOf, VerifiedAnswer } from '../../src/messages/answers.ts';
import type { ask } from '../../src/messages/client.ts';
import type { RequestType } from '../../src/messages/protocol.ts';
import type { ListedNoteView, SaveNoteResult, StatusView } from '../../src/messages/views.ts';
import type { useAction, useAsk } from '../../src/ui/components/useAsk.ts';

declare const send: typeof ask;
declare const load: typeof useAsk;
declare const action: ReturnType<typeof useAction>;
declare const groupId: GroupId;
declare const noteId: NoteId;
declare const peer: Fingerprint;

/** What pages write: a request, and the answer typed from it. */
async function callSites(): Promise<void> {
  const joined = await send({ type: 'group.join', code: 'conclave:join/abc' });
  expectTypeOf(joined).toEqualTypeOf<JoinAnswer>();
  expectTypeOf(await send({ type: 'status' })).toEqualTypeOf<StatusView>();
  expectTypeOf(await send({ type: 'draft.load', key: 'k' })).toBeUnknown();

  // @ts-expect-error the answer to group.join is not what status answers
  const wrongAnswer: StatusView = await send({ type: 'group.join', code: 'x' });
  // @ts-expect-error group.join needs its code
  await send({ type: 'group.join' });
  // @ts-expect-error a field the request does not have
  await send({ type: 'group.join', code: 'x', groupId });
  // @ts-expect-error a request type the background does not know
  await send({ type: 'group.explode', groupId });
  // @ts-expect-error the answer type is not written at the call site any more: it follows from the request
  await send<'status'>({ type: 'group.detail', groupId });
  void wrongAnswer;

  // A request chosen at run time answers what either of its types answers.
  const check = (typed: string | null): RequestOf<'verify.scanned' | 'verify.confirm'> =>
    typed ? { type: 'verify.confirm', groupId, fingerprint: peer, typed } : { type: 'verify.scanned', groupId, fingerprint: peer, text: '' };
  expectTypeOf(await send(check(null))).toEqualTypeOf<VerifiedAnswer>();

  // The hooks infer the same way.
  const removed = await action.run({ type: 'group.remove', groupId, fingerprint: peer });
  if (removed.ok) expectTypeOf(removed.data).toEqualTypeOf<RemoveAnswer>();
  const saved = await action.run({ type: 'notes.save', groupId, noteId, baseVersion: 1, title: 't', body: 'b' });
  if (saved.ok) expectTypeOf(saved.data).toEqualTypeOf<SaveNoteResult>();
  // @ts-expect-error notes.delete needs the version it deletes
  await action.run({ type: 'notes.delete', groupId, noteId });
  expectTypeOf(load({ type: 'notes.list', groupId }).data).toEqualTypeOf<ListedNoteView[] | undefined>();
  expectTypeOf(load(null as RequestOf<'group.detail'> | null).data).toEqualTypeOf<Answers['group.detail'] | undefined>();
}

declare const table: Handlers;

/** What the background writes: one handler per request type, answering its shape. */
function handlerTables(): Handlers[] {
  const good: Handlers = { ...table, 'group.leave': async (request) => ({ groupId: request.groupId }) };
  const { status: _status, ...withoutStatus } = table;
  // @ts-expect-error a request type without a handler
  const missing: Handlers = withoutStatus;
  // @ts-expect-error group.join answers a JoinAnswer (hasKey and keyWait are missing)
  const wrongShape: Handlers = { ...table, 'group.join': async (request) => ({ groupId: request.code as GroupId }) };
  // @ts-expect-error the handler for group.remove receives a group.remove request (it has no `code`)
  const wrongRequest: Handlers = { ...table, 'group.remove': async (request) => ({ generation: request.code.length, unreachable: 0 }) };
  return [good, missing, wrongShape, wrongRequest];
}

// Every request type has an answer, and the answers name nothing else.
expectTypeOf<keyof Answers>().toEqualTypeOf<RequestType>();

describe('the page ↔ background contract', () => {
  it('is checked by the type checker (these functions are never run)', () => {
    expect(typeof callSites).toBe('function');
    expect(typeof handlerTables).toBe('function');
  });
});
