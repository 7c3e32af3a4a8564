/**
 * API errors: every failure is a TRPCError whose `cause` carries the Conclave code
 * (shared/src/protocol/api.ts `API_ERROR_CODES`), surfaced to clients as
 * `error.data.conclave`. Messages say what happened and what to do; none carries a
 * secret, a key or a ciphertext.
 */
import { TRPCError } from '@trpc/server';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import type { ApiErrorCode, ApiErrorData } from '@conclave/shared/verify';

type TrpcCode = ConstructorParameters<typeof TRPCError>[0]['code'];

const TRPC_CODE: Record<ApiErrorCode, TrpcCode> = {
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  TOO_MANY_REQUESTS: 'TOO_MANY_REQUESTS',
  CHALLENGE_INVALID: 'UNAUTHORIZED',
  SIGNATURE_INVALID: 'BAD_REQUEST',
  LOG_REJECTED: 'UNPROCESSABLE_CONTENT',
  CLOCK_SKEW: 'BAD_REQUEST',
  INVITE_CLOSED: 'PRECONDITION_FAILED',
  BOX_REJECTED: 'UNPROCESSABLE_CONTENT',
  NOTE_REJECTED: 'UNPROCESSABLE_CONTENT',
  CHAIN_REJECTED: 'UNPROCESSABLE_CONTENT',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
};

export class ApiErrorCause extends Error {
  constructor(readonly data: ApiErrorData) {
    super(data.code);
  }
}

export function apiError(code: ApiErrorCode, message: string, extra: Omit<ApiErrorData, 'code'> = {}): TRPCError {
  return new TRPCError({ code: TRPC_CODE[code], message, cause: new ApiErrorCause({ code, ...extra }) });
}

/** The Conclave error data of any error thrown inside a procedure. */
export function apiErrorData(error: TRPCError): ApiErrorData {
  if (error.cause instanceof ApiErrorCause) return error.cause.data;
  switch (error.code) {
    case 'BAD_REQUEST':
    case 'PARSE_ERROR':
    case 'METHOD_NOT_SUPPORTED':
    case 'UNSUPPORTED_MEDIA_TYPE':
    case 'UNPROCESSABLE_CONTENT':
      // The request itself is wrong (GET on a mutation, not JSON…): the client's to fix.
      return { code: 'BAD_REQUEST' };
    case 'CONFLICT':
      return { code: 'CONFLICT' };
    case 'UNAUTHORIZED':
      return { code: 'UNAUTHORIZED' };
    case 'FORBIDDEN':
      return { code: 'FORBIDDEN' };
    case 'NOT_FOUND':
      return { code: 'NOT_FOUND' };
    case 'PAYLOAD_TOO_LARGE':
      return { code: 'PAYLOAD_TOO_LARGE' };
    case 'TOO_MANY_REQUESTS':
      return { code: 'TOO_MANY_REQUESTS' };
    default:
      return { code: 'INTERNAL' };
  }
}

export { TRPC_CODE };

/** The message of every INTERNAL error: the details stay in the server's log. */
export const INTERNAL_MESSAGE = 'the server could not complete this request; try again, and report it if it persists';

/** The error body every non-2xx answer has (docs/API.md "Errors on the wire"). */
export interface ErrorBody {
  error: {
    message: string;
    code: number;
    data: { code: TrpcCode; httpStatus: number; path?: string; conclave: ApiErrorData };
  };
}

/**
 * The tRPC code and Conclave code of an HTTP status answered outside a procedure (by
 * Fastify, by app.ts's own checks, or for Node's parser): the same shape as a
 * procedure's error, so a client reads every failure the same way.
 */
export function httpErrorCodes(status: number): { trpc: TrpcCode; conclave: ApiErrorCode } {
  switch (status) {
    case 404:
      return { trpc: 'NOT_FOUND', conclave: 'NOT_FOUND' };
    case 405:
      return { trpc: 'METHOD_NOT_SUPPORTED', conclave: 'BAD_REQUEST' };
    case 408:
      return { trpc: 'TIMEOUT', conclave: 'BAD_REQUEST' };
    case 413:
      return { trpc: 'PAYLOAD_TOO_LARGE', conclave: 'PAYLOAD_TOO_LARGE' };
    case 415:
      return { trpc: 'UNSUPPORTED_MEDIA_TYPE', conclave: 'BAD_REQUEST' };
    case 429:
      return { trpc: 'TOO_MANY_REQUESTS', conclave: 'TOO_MANY_REQUESTS' };
    default:
      return status >= 500 ? { trpc: 'INTERNAL_SERVER_ERROR', conclave: 'INTERNAL' } : { trpc: 'BAD_REQUEST', conclave: 'BAD_REQUEST' };
  }
}

/** The body of a non-2xx answer given outside tRPC, with `status` and `message`. */
export function httpErrorBody(status: number, message: string): ErrorBody {
  const { trpc, conclave } = httpErrorCodes(status);
  return {
    error: {
      message: conclave === 'INTERNAL' ? INTERNAL_MESSAGE : message,
      code: TRPC_ERROR_CODES_BY_KEY[trpc],
      data: { code: trpc, httpStatus: status, conclave: { code: conclave } },
    },
  };
}
