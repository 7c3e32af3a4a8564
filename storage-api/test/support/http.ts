/**
 * Raw HTTP to the tRPC endpoints, without the tRPC client: for malformed bodies,
 * forged tokens and truly concurrent requests (one HTTP request each, no batching).
 */
import type { ApiErrorData } from '@conclave/shared/protocol';

export interface RawResponse {
  status: number;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: unknown;
  /** The Conclave error data, when the body is a tRPC error. */
  conclave: ApiErrorData | undefined;
  message: string | undefined;
}

async function parse(response: Response): Promise<RawResponse> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  const error = (body as { error?: { message?: string; data?: { conclave?: ApiErrorData } } } | null)?.error;
  return { status: response.status, body, conclave: error?.data?.conclave, message: error?.message ?? (body as { message?: string } | null)?.message };
}

function headers(token: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

/** A mutation: POST with the input as the JSON body (or `rawBody` as is). */
export async function mutate(url: string, path: string, input: unknown, options: { token?: string; rawBody?: string; contentType?: string } = {}): Promise<RawResponse> {
  const response = await fetch(`${url}/trpc/${path}`, {
    method: 'POST',
    headers: headers(options.token, { 'content-type': options.contentType ?? 'application/json' }),
    body: options.rawBody ?? JSON.stringify(input),
  });
  return parse(response);
}

/** A query: GET with the input in the URL. */
export async function query(url: string, path: string, input: unknown, options: { token?: string } = {}): Promise<RawResponse> {
  const search = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  return parse(await fetch(`${url}/trpc/${path}${search}`, { headers: headers(options.token) }));
}

export async function health(url: string): Promise<RawResponse> {
  return parse(await fetch(`${url}/health`));
}
