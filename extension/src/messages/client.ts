/**
 * How a page talks to the background: `ask(request)` sends one typed request and
 * resolves with its data, or throws a `RequestError` carrying what happened and what
 * to do next (pages show both as they are).
 */
import { browser } from 'wxt/browser';
import type { ExtensionError, Request, Response } from './protocol.ts';

export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(readonly error: ExtensionError) {
    super(error.message);
  }
}

export const MESSAGE_CHANNEL = 'conclave.request';

export async function ask<T>(request: Request): Promise<T> {
  let response: Response<T> | undefined;
  try {
    response = (await browser.runtime.sendMessage({ channel: MESSAGE_CHANNEL, request })) as Response<T> | undefined;
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
