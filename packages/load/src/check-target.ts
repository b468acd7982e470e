import { BlockList, isIP } from 'node:net';
import { LoadError } from './load-error';

/** This machine: 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6 (`::ffff:127.0.0.1`, `::ffff:7f00:1`). */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:7f00:0', 104, 'ipv6');

/**
 * The target as a URL, refused unless it is this machine: a load test aimed at someone else's
 * server is an attack. Only loopback addresses and `localhost` pass; any other name is refused
 * too, since it could resolve to loopback when checked and elsewhere when connected (DNS
 * rebinding). `allowRemote` (`--allow-remote`) lifts the restriction.
 */
export function checkTarget(text: string, allowRemote: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LoadError(`--target must be a URL such as http://127.0.0.1:8080, not "${text.slice(0, 80)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new LoadError('--target must be http:// or https://');
  if (url.username || url.password)
    throw new LoadError('--target must not carry credentials; use --admin-key');
  if (allowRemote) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const family = isIP(host);
  const local =
    host === 'localhost' || (family !== 0 && LOOPBACK.check(host, family === 6 ? 'ipv6' : 'ipv4'));
  if (!local) {
    throw new LoadError(
      `--target ${host.slice(0, 80)} is not this machine (a loopback address or localhost); pass --allow-remote to load a server you own`,
    );
  }
  return url;
}
