import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DASHBOARD_PAGE } from './dashboard-page';
import type { DashboardData, ProcessSnapshot } from './snapshot';

/** Paths the dashboard answers; the gateway and the all-in-one process route them here. */
export const DASHBOARD_PREFIX = '/_/dashboard';

export interface DashboardAnswer {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export interface DashboardSource {
  /** The admin credential: `Authorization: Bearer <key>`, or HTTP Basic with it as the password. */
  adminKey(): string | undefined;
  /** Everything the page draws (this process, and for a gateway every instance behind it). */
  data(): Promise<DashboardData>;
  /** This process alone, for a gateway that gathers its instances. */
  snapshot(): Promise<ProcessSnapshot>;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** True when `authorization` carries the admin key, as a bearer token or a Basic password. */
export function isAdminCredential(authorization: string | undefined, adminKey: string | undefined): boolean {
  if (!authorization || !adminKey) return false;
  let presented: string | undefined;
  if (authorization.startsWith('Bearer ')) presented = authorization.slice(7).trim();
  else if (authorization.startsWith('Basic ')) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    presented = colon === -1 ? undefined : decoded.slice(colon + 1);
  }
  // Digests, so the comparison takes the same time whatever the lengths.
  return presented !== undefined && timingSafeEqual(digest(presented), digest(adminKey));
}

let uplot: { js: Buffer; css: Buffer } | undefined;
/** uPlot's browser build, read once from its package. */
function uplotAssets(): { js: Buffer; css: Buffer } {
  if (!uplot) {
    const require = createRequire(import.meta.url);
    uplot = {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css')),
    };
  }
  return uplot;
}

const SECURITY = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
};

const problem = (status: number, code: string, title: string, extra: Record<string, string> = {}) => ({
  status,
  headers: { ...SECURITY, 'content-type': 'application/problem+json', ...extra },
  body: JSON.stringify({ type: `urn:tern:problem:${code}`, title, status, code }),
});

/**
 * Answers a request under `/_/dashboard` (undefined for any other path): the page, its script
 * and uPlot, and the data it polls. Everything needs the admin credential; a browser is asked for
 * it with HTTP Basic (any user name, the admin key as the password).
 */
export async function answerDashboard(
  method: string,
  path: string,
  authorization: string | undefined,
  source: DashboardSource,
): Promise<DashboardAnswer | undefined> {
  if (path !== DASHBOARD_PREFIX && !path.startsWith(`${DASHBOARD_PREFIX}/`)) return undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    return problem(405, 'runtime/method-not-allowed', 'Method not allowed', { allow: 'GET, HEAD' });
  }
  if (!isAdminCredential(authorization, source.adminKey())) {
    return problem(401, 'runtime/unauthorized', 'The dashboard needs the admin credential', {
      'www-authenticate': 'Basic realm="Tern dashboard", charset="UTF-8"',
    });
  }
  const sub = path.slice(DASHBOARD_PREFIX.length);
  switch (sub) {
    case '':
    case '/':
      return {
        status: 200,
        headers: { ...SECURITY, 'content-type': 'text/html; charset=utf-8' },
        body: DASHBOARD_PAGE.html,
      };
    case '/dashboard.js':
      return {
        status: 200,
        headers: { ...SECURITY, 'content-type': 'text/javascript; charset=utf-8' },
        body: DASHBOARD_PAGE.script,
      };
    case '/uplot.js':
      return {
        status: 200,
        headers: { ...SECURITY, 'content-type': 'text/javascript; charset=utf-8' },
        body: uplotAssets().js,
      };
    case '/uplot.css':
      return {
        status: 200,
        headers: { ...SECURITY, 'content-type': 'text/css; charset=utf-8' },
        body: uplotAssets().css,
      };
    case '/data':
      return json(await source.data());
    case '/snapshot':
      return json(await source.snapshot());
    default:
      return problem(404, 'runtime/not-found', 'Not found');
  }
}

function json(value: unknown): DashboardAnswer {
  return {
    status: 200,
    headers: { ...SECURITY, 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(value),
  };
}
