import type { FleetConfig } from './config/fleet-config';

export const REDACTED = '***';

// A URL's scheme and authority: `redis://user:password@host:6379`, up to the path, query or fragment.
const URL_AUTHORITY = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>]*)/gi;
// Query parameters that carry a credential: `?password=…`, `&X-Amz-Signature=…`, `&token=…`.
const SECRET_PARAMETER = /([?&][^=&\s#]*(?:password|passwd|secret|token|signature|credential)[^=&\s#]*=)[^&\s#"'<>]+/gi;

/** The password of a URL's user information, or '' when it has none. */
function urlPassword(authority: string): string {
  const at = authority.lastIndexOf('@');
  if (at < 0) return '';
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  return colon < 0 ? '' : userinfo.slice(colon + 1);
}

/**
 * Text fit for a log line: every URL's password (`redis://user:***@host`), credential query
 * parameters and each of `secrets` wherever it appears are replaced with `***`. Everything the fleet
 * logs that may hold a URL, a configuration value or an error from a client goes through this.
 */
export function redactCredentials(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(URL_AUTHORITY, (match, scheme: string, authority: string) => {
    const password = urlPassword(authority);
    if (password === '') return match;
    const at = authority.lastIndexOf('@');
    const user = authority.slice(0, authority.indexOf(':'));
    return `${scheme}${user}:${REDACTED}${authority.slice(at)}`;
  });
  out = out.replace(SECRET_PARAMETER, `$1${REDACTED}`);
  // Longest first, so that a secret containing another is replaced whole.
  for (const secret of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(secret).join(REDACTED);
  return out;
}

/** The configured values no log line may show: the S3 secret key, the API keys, the callbacks' key and the passwords in URLs (raw and decoded). */
export function configSecrets(config: Partial<FleetConfig>): string[] {
  const secrets = [config.S3_SECRET_ACCESS_KEY, config.PADIM_CALLBACK_SECRET, ...(config.API_KEYS ?? [])];
  for (const url of [config.REDIS_URL, config.S3_ENDPOINT, config.PADIM_STORE]) {
    const match = url ? /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url) : null;
    const password = match ? urlPassword(match[1]) : '';
    if (password === '') continue;
    secrets.push(password);
    try {
      secrets.push(decodeURIComponent(password));
    } catch {
      // not percent-encoded: the raw form is enough
    }
  }
  return secrets.filter((s): s is string => typeof s === 'string' && s !== '');
}

/** A log function whose every line is redacted with `config`'s secrets. */
export function redactingLog(config: Partial<FleetConfig>, log: (line: string) => void): (line: string) => void {
  const secrets = configSecrets(config);
  return (line) => log(redactCredentials(line, secrets));
}
