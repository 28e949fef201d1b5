import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { METRICS_CONTENT_TYPE, WorkerMetrics } from '@padim-fleet/fleet';

export interface MetricsServer {
  /** `http://host:port`, with the port the server got (WORKER_METRICS_PORT=0 picks a free one). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The worker's own small HTTP server (no framework): `GET /metrics` in Prometheus' text format, and
 * `GET /healthz`, 200 `ok` while `problem()` finds none, else 503 with the problem. Nothing else.
 */
export async function startMetricsServer(opts: { host: string; port: number; metrics: WorkerMetrics; problem: () => string | null }): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'method not allowed: GET /metrics or /healthz\n');
    if (path === '/healthz') {
      const problem = opts.problem();
      return problem === null ? answer(200, 'ok\n') : answer(503, `not ok: ${problem}\n`);
    }
    if (path === '/metrics') {
      opts.metrics.registry.metrics().then(
        (text) => answer(200, text, METRICS_CONTENT_TYPE),
        (error: Error) => answer(500, `metrics failed: ${error.message}\n`),
      );
      return;
    }
    answer(404, 'not found: GET /metrics or /healthz\n');
  });
  // Scrapes are short; an idle keep-alive connection must not hold the worker's shutdown.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
