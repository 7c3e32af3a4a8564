/** Wire formats: schemas, ids, encodings and error codes. No cryptography. */
export * from './api.ts';
export * from './canonical.ts';
export * from './encoding.ts';
export * from './error-codes.ts';
export * from './events.ts';
export * from './ids.ts';
export * from './schemas.ts';
