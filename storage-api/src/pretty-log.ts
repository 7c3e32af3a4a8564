/**
 * The request log as a person reads it in a terminal — `12:00:01 POST /trpc/notes.put 200 3.1 ms`
 * — through pino-pretty; JSON lines (for a log collector) when the output is not a
 * terminal or `CONCLAVE_LOG_FORMAT=json`. Either way the log holds what app.ts's
 * serializers let through: method, path, IP, status, never a body, query or token.
 */
import pretty from 'pino-pretty';
import type { Config } from './config.ts';

interface RequestLine {
  req?: { method?: string; path?: string };
  res?: { statusCode?: number };
  ms?: number;
}

/** The stream to log to (readable lines on `output`), or undefined for pino's own JSON on stdout. */
export function logStreamFor(format: Config['logFormat'], output: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): NodeJS.WritableStream | undefined {
  const isTerminal = output.isTTY === true;
  if (format === 'json' || (format === 'auto' && !isTerminal)) return undefined;
  return pretty({
    destination: output,
    colorize: isTerminal,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,reqId,req,res,ms',
    messageFormat: (log, messageKey) => {
      const { req, res, ms } = log as RequestLine;
      return req && res ? `${req.method} ${req.path} ${res.statusCode} ${ms} ms` : String(log[messageKey]);
    },
  });
}
