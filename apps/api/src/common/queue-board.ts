import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Inject, Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { QueueName, type FleetConfig } from '@padim-fleet/contracts';
import { basicOrBearerProblem } from './api-key.guard';
import { FLEET_CONFIG, REDIS } from './tokens';

/** Where the API serves Bull Board: its page, its static files and its JSON routes (`api/...`). */
export const QUEUE_BOARD_PATH = '/admin/queues';

/** The realm a browser names when it asks for the key (as the password of HTTP Basic). */
export const QUEUE_BOARD_REALM = 'padim-fleet';

/**
 * What the board's page needs and no more: everything from this origin, plus inline styles (its loading
 * placeholder is styled inline, and React injects style elements). No other origin: the page's Google Fonts
 * stylesheet is taken out (`withoutExternalFonts`). The console's own policy (console-files.ts) stays stricter.
 */
export const QUEUE_BOARD_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** The stylesheet link of Bull Board's page to fonts.googleapis.com; the page falls back to the system's fonts. */
const EXTERNAL_FONTS_LINK = /<link[^>]+href="https:\/\/fonts\.googleapis\.com\/[^"]*"[^>]*>\s*/g;

/**
 * Bull Board over every fleet queue (extract, reduce, score) under the fleet's queue prefix, read-only: runs
 * and scorings are driven through the API (cancel, clean-up), and a job retried or removed by hand would
 * leave them inconsistent, so the board is for looking at jobs, not changing them.
 */
@Injectable()
export class QueueBoard {
  private readonly queues: Queue[];
  /** The board's Express app: the page, its static files and its JSON routes. */
  readonly app: RequestHandler;

  constructor(@Inject(REDIS) redis: Redis, @Inject(FLEET_CONFIG) config: FleetConfig) {
    this.queues = Object.values(QueueName).map((name) => new Queue(name, { connection: redis, prefix: config.PADIM_QUEUE_PREFIX }));
    const server = new ExpressAdapter().setBasePath(QUEUE_BOARD_PATH);
    createBullBoard({
      queues: this.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
      serverAdapter: server,
      options: { uiConfig: { boardTitle: 'padim-fleet queues' } },
    });
    this.app = server.getRouter() as RequestHandler;
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((queue) => queue.close()));
  }
}

/**
 * The board behind the API keys, as a browser can send them: the key as the HTTP Basic password (a 401
 * with `WWW-Authenticate: Basic` makes the browser ask for it) or as a bearer token; its JSON routes too.
 */
export function queueBoardHandlers(board: QueueBoard, keys: Buffer[]): RequestHandler[] {
  const requireKey = (req: Request, res: Response, next: NextFunction) => {
    const problem = basicOrBearerProblem(req.headers.authorization, keys);
    if (!problem) return next();
    res.set('WWW-Authenticate', `Basic realm="${QUEUE_BOARD_REALM}"`);
    res.status(401).json({ statusCode: 401, message: problem });
  };
  const headers = (_req: Request, res: Response, next: NextFunction) => {
    res.set(QUEUE_BOARD_HEADERS);
    next();
  };
  return [requireKey, headers, withoutExternalFonts, board.app];
}

/** Renders the board's page without its link to Google Fonts: the fleet's pages load nothing from other origins. */
function withoutExternalFonts(_req: Request, res: Response, next: NextFunction): void {
  const render = res.render.bind(res) as (view: string, options: object, callback: (error: Error | null, html: string) => void) => void;
  res.render = ((view: string, options?: object) =>
    render(view, options ?? {}, (error, html) => (error ? next(error) : res.send(html.replace(EXTERNAL_FONTS_LINK, ''))))) as Response['render'];
  next();
}
