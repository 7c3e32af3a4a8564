/**
 * API errors: every failure is a TRPCError whose `cause` carries the Conclave code
 * (shared/src/protocol/api.ts `API_ERROR_CODES`), surfaced to clients as
 * `error.data.conclave`. Messages say what happened and what to do; none carries a
 * secret, a key or a ciphertext.
 */
import { TRPCError } from '@trpc/server';
import type { ApiErrorCode, ApiErrorData } from '../../shared/src/verify.ts';

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
