/** One entry of the gateway's route table: requests under `prefix` (and of `methods`, if given) go to `service`. */
export interface GatewayRoute {
  /** A path prefix on segment boundaries: `/v1/data` matches `/v1/data` and `/v1/data/notes`, not `/v1/database`. */
  prefix: string;
  service: string;
  /** Upper-case methods; absent means every method. */
  methods?: readonly string[];
  /**
   * `private` (the default): the gateway admits only callers with a valid access token or the
   * admin key. `public`: anyone (sign-up, sign-in, the JWKS); the service still applies its own rules.
   */
  access?: 'public' | 'private';
}

/**
 * The routes of the services Tern ships, used when the configuration gives none. Admin routes
 * live with the service that owns what they administer.
 */
export const DEFAULT_ROUTES: readonly GatewayRoute[] = [
  { prefix: '/v1/auth', service: 'auth' },
  // The auth service's own public routes; everything else under /v1/auth needs a token.
  ...['signup', 'login', 'anonymous', 'refresh', 'password-reset', 'verify-email/confirm'].map((name) => ({
    prefix: `/v1/auth/${name}`,
    service: 'auth',
    access: 'public' as const,
  })),
  { prefix: '/.well-known/jwks.json', service: 'auth', access: 'public' },
  { prefix: '/v1/admin/users', service: 'auth' },
  { prefix: '/v1/admin/audit', service: 'auth' },
  { prefix: '/v1/admin/auth', service: 'auth' },
  { prefix: '/v1/admin/mail', service: 'auth' },
  { prefix: '/v1/data', service: 'data' },
  { prefix: '/v1/admin/collections', service: 'data' },
  { prefix: '/v1/jobs', service: 'jobs' },
  { prefix: '/v1/admin/jobs', service: 'jobs' },
  { prefix: '/v1/admin/system', service: 'system' },
];

const PREFIX = /^(\/[A-Za-z0-9._~-]+)+$/;

/** Checks a route table; throws a RangeError naming the first bad entry. */
export function validateRoutes(routes: readonly GatewayRoute[]): void {
  routes.forEach((route, index) => {
    if (!PREFIX.test(route.prefix) || route.prefix.split('/').some((part) => part === '.' || part === '..')) {
      throw new RangeError(
        `route ${index}: prefix ${JSON.stringify(route.prefix)} must be an absolute path of plain segments`,
      );
    }
    if (!/^[a-z][a-z0-9-]*$/.test(route.service)) {
      throw new RangeError(`route ${index}: service ${JSON.stringify(route.service)} is not a service name`);
    }
    if (route.access !== undefined && route.access !== 'public' && route.access !== 'private') {
      throw new RangeError(`route ${index}: access must be public or private`);
    }
    for (const method of route.methods ?? []) {
      if (!/^[A-Z]+$/.test(method)) throw new RangeError(`route ${index}: method ${JSON.stringify(method)}`);
    }
  });
}

/**
 * Longest-prefix matching on whole path segments, built once: a lookup walks the path's segments
 * through a map per level, so its cost does not grow with the number of routes.
 */
export function createRouteTable(routes: readonly GatewayRoute[]) {
  validateRoutes(routes);
  interface Node {
    children: Map<string, Node>;
    routes: GatewayRoute[];
  }
  const root: Node = { children: new Map(), routes: [] };
  for (const route of routes) {
    let node = root;
    for (const segment of route.prefix.split('/').slice(1)) {
      let child = node.children.get(segment);
      if (!child) {
        child = { children: new Map(), routes: [] };
        node.children.set(segment, child);
      }
      node = child;
    }
    node.routes.push(route);
  }
  const fits = (route: GatewayRoute, method: string) => !route.methods || route.methods.includes(method);

  return {
    /**
     * The route for a request path (without the query string), or undefined. `path` must already
     * be normalised: the proxy refuses paths with `.`/`..` segments, empty segments or encoded
     * slashes before routing, so a prefix cannot be escaped.
     */
    match(method: string, path: string): GatewayRoute | undefined {
      let node = root;
      let best: GatewayRoute | undefined;
      let start = 1;
      while (start <= path.length) {
        const end = path.indexOf('/', start);
        const segment = path.slice(start, end === -1 ? path.length : end);
        const child = node.children.get(segment);
        if (!child) break;
        node = child;
        for (const route of node.routes) if (fits(route, method)) best = route;
        if (end === -1) break;
        start = end + 1;
      }
      return best;
    },
    /** The services some route sends to. */
    services(): string[] {
      return [...new Set(routes.map((route) => route.service))];
    },
  };
}

export type RouteTable = ReturnType<typeof createRouteTable>;
