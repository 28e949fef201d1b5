import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { static as serveStatic, type NextFunction, type Request, type RequestHandler, type Response } from 'express';

/** The web console as `npm run build` leaves it (apps/console/dist), from apps/api/src or apps/api/dist alike. */
export const CONSOLE_DIST = path.resolve(__dirname, '../../../console/dist');

/**
 * The console's pages run no inline code and talk to this origin only; images it shows from the API are
 * fetched with the key and shown as blob: URLs.
 */
export const CONSOLE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/**
 * The web console's files, mounted at /console: public (they hold no data; every call the console makes
 * needs a key). Hashed assets are cached for good; any other path is the app's index.html, which routes
 * in the browser. Without a build, /console says how to make one.
 */
export function consoleFiles(dist: string): RequestHandler {
  const assets = serveStatic(dist, {
    index: false,
    fallthrough: true,
    setHeaders: (res) => res.setHeader('Cache-Control', 'public, max-age=31536000, immutable'),
  });
  const index = path.join(dist, 'index.html');
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    res.set(CONSOLE_HEADERS);
    if (!existsSync(index)) {
      res.status(404).json({ statusCode: 404, message: `the web console is not built (${index} is missing): run \`npm run build\`` });
      return;
    }
    if (req.path.startsWith('/assets/')) {
      // A missing asset is a 404, not the index: a stale page must not run HTML as a script.
      assets(req, res, () => res.status(404).json({ statusCode: 404, message: `${req.originalUrl} not found` }));
      return;
    }
    res.set('Cache-Control', 'no-cache');
    res.sendFile(index);
  };
}
