import { Secret } from './secret';

/** The result of parsing one raw value: the value, or why it is wrong (never echoing a secret). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface ConfigKey<T> {
  name: string;
  description: string;
  /** Shown in the reference; `undefined` when the key is optional with no default. */
  defaultText?: string;
  secret?: boolean;
  parse(raw: string): Parsed<T>;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (reason: string): Parsed<never> => ({ ok: false, reason });

export function integer(min: number, max: number) {
  return (raw: string): Parsed<number> => {
    if (!/^-?\d+$/.test(raw.trim())) return bad(`must be a whole number between ${min} and ${max}`);
    const value = Number(raw.trim());
    if (value < min || value > max) return bad(`must be between ${min} and ${max}`);
    return ok(value);
  };
}

/** `name=level` pairs, comma-separated (`auth=debug,jobs=warn`); names are service names. */
export function levelsByName<const T extends string>(
  raw: string,
  levels: readonly T[],
): Parsed<Record<string, T>> {
  const result: Record<string, T> = {};
  for (const entry of raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)) {
    const [name = '', level = '', ...rest] = entry.split('=').map((part) => part.trim());
    if (rest.length > 0 || !/^[a-z][a-z0-9-]{0,63}$/.test(name))
      return bad(`must be name=level pairs such as auth=debug,jobs=warn`);
    if (!(levels as readonly string[]).includes(level))
      return bad(`${name}: the level must be one of ${levels.join(', ')}`);
    result[name] = level as T;
  }
  return ok(result);
}

/** A decimal between 0 and 1 (`0.1`, `1`). */
export function ratio(raw: string): Parsed<number> {
  const text = raw.trim();
  if (!/^(0|1|0?\.\d+|1\.0*)$/.test(text)) return bad('must be a number between 0 and 1, such as 0.1');
  return ok(Number(text));
}

export function oneOf<const T extends string>(values: readonly T[]) {
  return (raw: string): Parsed<T> =>
    (values as readonly string[]).includes(raw.trim())
      ? ok(raw.trim() as T)
      : bad(`must be one of ${values.join(', ')}`);
}

export function url(protocols: readonly string[]) {
  return (raw: string): Parsed<string> => {
    let parsed: URL;
    try {
      parsed = new URL(raw.trim());
    } catch {
      return bad(`must be a URL (${protocols.map((p) => `${p}//…`).join(' or ')})`);
    }
    if (!protocols.includes(parsed.protocol)) return bad(`must use ${protocols.join(' or ')}`);
    return ok(raw.trim());
  };
}

/** A comma-separated list of URLs, each as `url(protocols)` checks it; empty entries are ignored. */
export function urls(protocols: readonly string[]) {
  const one = url(protocols);
  return (raw: string): Parsed<string[]> => {
    const items = raw
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
    const bad = items.map((item, index) => ({ index, parsed: one(item) })).find(({ parsed }) => !parsed.ok);
    if (bad && !bad.parsed.ok) return { ok: false, reason: `entry ${bad.index + 1} ${bad.parsed.reason}` };
    return ok(items);
  };
}

export function nonEmpty(raw: string): Parsed<string> {
  return raw.trim() === '' ? bad('must not be empty') : ok(raw.trim());
}

export function list(raw: string): Parsed<string[]> {
  const items = raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  const invalid = items.filter((item) => !/^[a-z][a-z0-9-]*$/.test(item));
  return invalid.length ? bad(`has invalid names: ${invalid.join(', ')}`) : ok(items);
}

/** Comma-separated host names or IP addresses (`localhost,127.0.0.1,::1,hooks.internal`), lower-cased. */
export function hosts(raw: string): Parsed<string[]> {
  const items = raw
    .split(',')
    .map((item) =>
      item
        .trim()
        .toLowerCase()
        .replace(/^\[(.*)\]$/, '$1'),
    )
    .filter(Boolean);
  const invalid = items.filter((item) => !/^[a-z0-9.:-]{1,253}$/.test(item));
  return invalid.length ? bad(`has invalid hosts: ${invalid.join(', ')}`) : ok(items);
}

/** A bearer credential: printable ASCII only (what an Authorization header carries), no spaces. */
export function secret(minLength: number, maxLength = 4096) {
  const pattern = new RegExp(`^[\\x21-\\x7e]{${minLength},${maxLength}}$`);
  return (raw: string): Parsed<Secret> =>
    pattern.test(raw)
      ? ok(new Secret(raw))
      : bad(`must be ${minLength} to ${maxLength} printable ASCII characters with no spaces`);
}

export function prefix(pattern: RegExp, what: string) {
  return (raw: string): Parsed<string> => (pattern.test(raw) ? ok(raw) : bad(`must be ${what}`));
}

/** A comma-separated list of identifiers such as OAuth client ids (`com.example.app`, `123-abc.apps.googleusercontent.com`). */
export function identifiers(raw: string): Parsed<string[]> {
  const items = raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  const invalid = items.filter((item) => !/^[A-Za-z0-9._:-]{1,255}$/.test(item));
  return invalid.length
    ? bad(`has invalid entries: ${invalid.map((item) => item.slice(0, 40)).join(', ')}`)
    : ok(items);
}

/** A value that must never be printed and may hold any characters (e.g. a JSON key set). */
export function opaqueSecret(maxLength: number) {
  return (raw: string): Parsed<Secret> =>
    raw.length > 0 && raw.length <= maxLength
      ? ok(new Secret(raw))
      : bad(`must be 1 to ${maxLength} characters`);
}

/** A plain mail address (no display name), as the mail transports accept it. */
export function mailbox(raw: string): Parsed<string> {
  const value = raw.trim();
  return /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$/.test(value)
    ? ok(value)
    : bad('must be a plain mail address such as no-reply@example.com');
}

/**
 * Each service's instances: `auth=http://10.0.0.5:8080,http://10.0.0.6:8080;data=http://10.0.0.7:8080`.
 * An instance URL is an origin (no path, query or credentials): the gateway adds the request's path.
 */
export function serviceInstances(raw: string): Parsed<Record<string, string[]>> {
  const services: Record<string, string[]> = {};
  for (const entry of raw
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const equals = entry.indexOf('=');
    const service = entry.slice(0, equals).trim();
    if (equals < 1 || !/^[a-z][a-z0-9-]*(@[A-Za-z0-9._-]{1,32})?$/.test(service)) {
      return bad(
        'must be service[@version]=URL[,URL…] entries separated by ";" (service names in lower case)',
      );
    }
    const origins: string[] = [];
    for (const item of entry
      .slice(equals + 1)
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)) {
      const parsed = origin(item);
      if (!parsed.ok) return bad(`${service}: an instance URL ${parsed.reason}`);
      origins.push(parsed.value);
    }
    if (origins.length === 0) return bad(`${service}: no instance URL`);
    services[service] = [...(services[service] ?? []), ...origins];
  }
  return ok(services);
}

/** A JSON array, or why the value is not one (`what` says what its items should be). */
function jsonArray(raw: string, what: string): Parsed<unknown[]> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return bad(`must be a JSON array of ${what}`);
  }
  return Array.isArray(value) ? ok(value) : bad(`must be a JSON array of ${what}`);
}

/** A JSON array of `{ "prefix": "/v1/x", "service": "x", "methods"?: ["GET"] }`; checked again by the gateway. */
export function gatewayRoutes(
  raw: string,
): Parsed<{ prefix: string; service: string; methods?: string[] }[]> {
  const parsed = jsonArray(raw, '{"prefix", "service", "methods"?} objects');
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  if (value.length === 0) return bad('must be a non-empty JSON array');
  const routes: { prefix: string; service: string; methods?: string[] }[] = [];
  for (const [index, item] of value.entries()) {
    const route = item as { prefix?: unknown; service?: unknown; methods?: unknown };
    const methods = route.methods;
    if (
      typeof route.prefix !== 'string' ||
      typeof route.service !== 'string' ||
      (methods !== undefined && (!Array.isArray(methods) || methods.some((m) => typeof m !== 'string')))
    ) {
      return bad(`route ${index + 1} must have a string prefix and service, and methods a list of strings`);
    }
    routes.push({
      prefix: route.prefix,
      service: route.service,
      ...(methods ? { methods: methods as string[] } : {}),
    });
  }
  return ok(routes);
}

/** A JSON array of gateway rate-limit policies (see `GatewayRatePolicy` in @tern/gateway). */
export function gatewayRatePolicies(raw: string): Parsed<
  {
    name: string;
    prefix?: string;
    methods?: string[];
    by: 'user' | 'ip' | 'route';
    limit: number;
    windowMs: number;
    burst?: number;
    cost?: number;
  }[]
> {
  const parsed = jsonArray(raw, '{"name", "by", "limit", "windowMs", …} objects ([] for no limits)');
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  const count = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n > 0;
  for (const [index, item] of value.entries()) {
    const policy = item as Record<string, unknown>;
    const problem =
      typeof policy.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(policy.name)
        ? 'a name of 1–64 letters, digits, - or _'
        : !['user', 'ip', 'route'].includes(policy.by as string)
          ? 'by: user, ip or route'
          : !count(policy.limit) || !count(policy.windowMs)
            ? 'limit and windowMs: positive whole numbers'
            : (policy.burst !== undefined && !count(policy.burst)) ||
                (policy.cost !== undefined && !count(policy.cost))
              ? 'burst and cost, when given: positive whole numbers'
              : policy.prefix !== undefined &&
                  (typeof policy.prefix !== 'string' || !policy.prefix.startsWith('/'))
                ? 'prefix, when given: a path starting with /'
                : policy.methods !== undefined &&
                    (!Array.isArray(policy.methods) || policy.methods.some((m) => typeof m !== 'string'))
                  ? 'methods, when given: a list of strings'
                  : undefined;
    if (problem) return bad(`policy ${index + 1} needs ${problem}`);
  }
  return ok(value as never);
}

/**
 * An origin to advertise: as `origin`, and the port may be `{port}`, the port this process
 * listens on once bound (for `--port 0`).
 */
export function advertisedOrigin(raw: string): Parsed<string> {
  const trimmed = raw.trim();
  if (!trimmed.endsWith(':{port}')) return origin(trimmed);
  const parsed = origin(`${trimmed.slice(0, -':{port}'.length)}:1`);
  return parsed.ok ? ok(`${parsed.value.slice(0, -':1'.length)}:{port}`) : parsed;
}

/** An http(s) origin: scheme, host and port, no path, query or credentials. */
export function origin(raw: string): Parsed<string> {
  let parsed: URL;
  try {
    parsed = new URL(raw.trim());
  } catch {
    return bad('must be an origin such as http://10.0.0.5:8080');
  }
  if (!['http:', 'https:'].includes(parsed.protocol) || parsed.username || parsed.password) {
    return bad('must be an http:// or https:// origin without credentials');
  }
  if (parsed.pathname !== '/' || parsed.search || parsed.hash)
    return bad('must be an origin, without a path');
  return ok(parsed.origin);
}

/** A JSON array of gateway API keys: `{name, sha256 (hex of the key), prefixes, as: admin|anonymous}`. */
export function gatewayApiKeys(
  raw: string,
): Parsed<{ name: string; sha256: string; prefixes: string[]; as: 'admin' | 'anonymous' }[]> {
  const parsed = jsonArray(raw, '{"name", "sha256", "prefixes", "as"} objects');
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  const names = new Set<string>();
  for (const [index, item] of value.entries()) {
    const key = item as Record<string, unknown>;
    const problem =
      typeof key.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(key.name) || names.has(key.name)
        ? 'a unique name of 1–64 letters, digits, - or _'
        : typeof key.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(key.sha256)
          ? "sha256: the key's SHA-256 in hex (never the key itself)"
          : !Array.isArray(key.prefixes) ||
              key.prefixes.length === 0 ||
              key.prefixes.some(
                (prefix) => typeof prefix !== 'string' || !/^(\/[A-Za-z0-9._~-]+)+$/.test(prefix),
              )
            ? 'prefixes: a non-empty list of paths such as /v1/data'
            : key.as !== 'admin' && key.as !== 'anonymous'
              ? 'as: admin or anonymous'
              : undefined;
    if (problem) return bad(`key ${index + 1} needs ${problem}`);
    names.add(key.name as string);
  }
  return ok(value as never);
}
