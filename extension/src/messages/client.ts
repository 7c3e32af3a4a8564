/**
 * How a page talks to the background: `ask(request)` sends one typed request and
 * resolves with its answer, typed from the request's `type` (`Answers` in answers.ts:
 * `await ask({ type: 'group.join', code })` is a `JoinAnswer`), or throws a
 * `RequestError` carrying what happened and what to do next (pages show both as they are).
 */
import { browser } from 'wxt/browser';
import type { AnswerTo, RequestOf } from './answers.ts';
import type { ExtensionError, RequestType, Response } from './protocol.ts';

export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(readonly error: ExtensionError) {
    super(error.message);
  }
}

export const MESSAGE_CHANNEL = 'conclave.request';

export async function ask<K extends RequestType>(request: RequestOf<K>): Promise<AnswerTo<K>> {
  let response: Response<AnswerTo<K>> | undefined;
  try {
    // The background answers `Answers[request.type]` (its `Handlers` table is typed so).
    response = (await browser.runtime.sendMessage({ channel: MESSAGE_CHANNEL, request })) as Response<AnswerTo<K>> | undefined;
  } catch (error) {
    throw new RequestError({
      code: 'internal',
      message: `The extension's background did not answer (${(error as Error).message}).`,
      action: 'Close this window and open it again; if it keeps happening, reload the extension.',
    });
  }
  if (!response) throw new RequestError({ code: 'internal', message: 'The extension gave no answer.', action: 'Try again.' });
  if (!response.ok) throw new RequestError(response.error);
  return response.data;
}
