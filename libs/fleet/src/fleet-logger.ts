import { type DestinationStream, type Logger, pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { type FleetConfig, REDACTED, configSecrets, redactCredentials } from '@padim-fleet/contracts';

/** The logger of a fleet process (the API or a worker): pino, with credentials redacted from every line. */
export type FleetLogger = Logger;

/** Headers that carry a credential, wherever a request, a response or its headers are logged. */
const CREDENTIAL_HEADER_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
];

export interface FleetLoggerOptions {
  /** Where the lines go; default stdout (written synchronously, so a last line before an exit is not lost). */
  destination?: DestinationStream;
  /** Human lines (pino-pretty) instead of JSON lines; default: whether stdout is a terminal. */
  pretty?: boolean;
}

/**
 * The logger of the API (`name` 'api') or a worker ('worker'), at `config.LOG_LEVEL` (default info).
 * One JSON object per line: `level` (its name), `time` (ISO 8601), `pid`, `hostname`, `name`, `msg`,
 * and the fields of the call and of its child loggers (a job's `runId`, `jobId`, …). Every line is
 * run through `redactCredentials` with the configuration's secrets just before it is written, so no
 * field, message, error stack or binding can show a URL password, the S3 secret or an API key.
 */
export function createFleetLogger(config: Partial<FleetConfig>, name: string, opts: FleetLoggerOptions = {}): FleetLogger {
  const secrets = lineSecrets(config);
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  const sink = opts.destination ?? pino.destination({ dest: 1, sync: true });
  // pino-pretty's formatter, called in line (not its stream), so that a terminal gets each line as synchronously as a pipe.
  const prettify = pretty ? prettyFactory({ colorize: opts.destination === undefined, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' }) : null;
  return pino(
    {
      name,
      level: config.LOG_LEVEL ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: CREDENTIAL_HEADER_PATHS, censor: REDACTED },
    },
    {
      write: (line: string) => {
        const redacted = redactCredentials(line, secrets);
        sink.write(prettify ? prettify(redacted) : redacted);
      },
    },
  );
}

/** The configuration's secrets as they appear in a JSON line: raw, and with JSON's escapes (a `"` or `\` in a key). */
function lineSecrets(config: Partial<FleetConfig>): string[] {
  const secrets = configSecrets(config);
  return [...new Set([...secrets, ...secrets.map((s) => JSON.stringify(s).slice(1, -1))])];
}
