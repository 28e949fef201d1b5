import { describe, expect, it } from '@jest/globals';
import { loadFleetConfig } from '@padim-fleet/contracts';
import { createFleetLogger } from './fleet-logger';

const REDIS_PASSWORD = 'Redis-pass-word-7Q';
const API_KEY = 'Zr8qT2vLm9XcB4nHw7KdF3jPs6YgA1eQ';
const S3_SECRET = 'the-s3-secret-"access"-key';

/** A logger whose lines are kept, as they would be written to stdout. */
function capture(env: Record<string, string> = {}, pretty = false) {
  const config = loadFleetConfig({
    REDIS_URL: `redis://default:${REDIS_PASSWORD}@10.0.0.5:6379/0`,
    API_KEYS: API_KEY,
    S3_SECRET_ACCESS_KEY: S3_SECRET,
    ...env,
  });
  const lines: string[] = [];
  const logger = createFleetLogger(config, 'worker', { pretty, destination: { write: (line: string) => void lines.push(line) } });
  return { config, logger, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createFleetLogger', () => {
  it('writes one JSON object per line: level name, ISO time, pid, hostname, process name and message', () => {
    const { logger, lines, json } = capture();
    logger.info({ images: 3 }, 'worker: roles extract');
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith('\n')).toBe(true);
    expect(lines[0].trimEnd()).not.toContain('\n');
    const [line] = json();
    expect(line).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      pid: process.pid,
      hostname: expect.any(String),
      name: 'worker',
      images: 3,
      msg: 'worker: roles extract',
    });
  });

  it('logs at LOG_LEVEL and above (default info); silent logs nothing', () => {
    const levels = (env: Record<string, string>) => {
      const { logger, json } = capture(env);
      for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) logger[level](level);
      return json().map((l) => l.level);
    };
    expect(levels({})).toEqual(['info', 'warn', 'error', 'fatal']);
    expect(levels({ LOG_LEVEL: 'debug' })).toEqual(['debug', 'info', 'warn', 'error', 'fatal']);
    expect(levels({ LOG_LEVEL: 'warn' })).toEqual(['warn', 'error', 'fatal']);
    expect(levels({ LOG_LEVEL: 'silent' })).toEqual([]);
  });

  it("carries a child logger's bindings, and those set later, on each of its lines", () => {
    const { logger, json } = capture();
    const job = logger.child({ runId: 'run-1234', jobId: 'run-1234-shard-0', shard: 0 });
    job.info('started');
    job.setBindings({ category: 'screw', version: '20250101-run-1234' });
    job.info({ ms: 12 }, 'completed');
    logger.info('not about the job');
    expect(json()).toEqual([
      expect.objectContaining({ runId: 'run-1234', jobId: 'run-1234-shard-0', shard: 0, msg: 'started' }),
      expect.objectContaining({ runId: 'run-1234', jobId: 'run-1234-shard-0', category: 'screw', version: '20250101-run-1234', ms: 12, msg: 'completed' }),
      expect.not.objectContaining({ runId: expect.anything() }),
    ]);
  });

  it('never writes the Redis password, the API keys or the S3 secret: in messages, fields, bindings, errors and headers', () => {
    const { config, logger, lines, json } = capture();
    logger.info(`worker: roles extract on ${config.REDIS_URL}`);
    logger.warn({ url: config.REDIS_URL, detail: `NOAUTH for ${REDIS_PASSWORD}` }, 'redis refused');
    logger.child({ endpoint: `http://ak:${S3_SECRET}@rgw:7480` }).info(`signed with ${S3_SECRET}`);
    logger.error({ err: new Error(`connect to ${config.REDIS_URL} failed`) }, 'start-up failed');
    // A client's wrong key is no configured secret: the header paths hide it.
    logger.info(
      { req: { method: 'GET', headers: { authorization: 'Bearer a-wrong-client-key-0123456789abcdef', 'x-api-key': API_KEY, host: 'h' } } },
      'request',
    );
    logger.info({ query: `?limit=5&token=${API_KEY}` }, `key ${API_KEY} refused`);

    for (const secret of [REDIS_PASSWORD, API_KEY, S3_SECRET, JSON.stringify(S3_SECRET).slice(1, -1), 'a-wrong-client-key']) {
      expect(lines.filter((l) => l.includes(secret))).toEqual([]);
    }
    const [listening, refused, signed, failed, request] = json();
    expect(listening.msg).toBe('worker: roles extract on redis://default:***@10.0.0.5:6379/0');
    expect(refused).toMatchObject({ url: 'redis://default:***@10.0.0.5:6379/0', detail: 'NOAUTH for ***' });
    expect(signed).toMatchObject({ endpoint: 'http://ak:***@rgw:7480', msg: 'signed with ***' });
    expect(failed.err).toMatchObject({
      message: 'connect to redis://default:***@10.0.0.5:6379/0 failed',
      stack: expect.stringContaining('redis://default:***@'),
    });
    expect(request.req).toEqual({ method: 'GET', headers: { authorization: '***', 'x-api-key': '***', host: 'h' } });
  });

  it('writes human lines when pretty (a terminal), redacted too', () => {
    const { config, logger, lines } = capture({}, true);
    logger.child({ runId: 'run-1234' }).warn(`worker: roles extract on ${config.REDIS_URL}`);
    const text = lines.join('');
    expect(text).toMatch(/WARN \(worker\): worker: roles extract on redis:\/\/default:\*\*\*@10\.0\.0\.5:6379\/0/);
    expect(text).toContain('runId: "run-1234"');
    expect(text).not.toContain(REDIS_PASSWORD);
    expect(() => JSON.parse(lines[0])).toThrow();
  });
});
