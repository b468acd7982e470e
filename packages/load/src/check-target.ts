import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { LoadError } from './load-error';

const loopback = (address: string) =>
  address === '::1' ||
  address.startsWith('127.') ||
  address === '::ffff:127.0.0.1' ||
  address.startsWith('::ffff:127.');

/**
 * The target as a URL, refused unless every address it resolves to is loopback: a load test
 * aimed at someone else's server is an attack. `allowRemote` (`--allow-remote`) lifts it.
 */
export async function checkTarget(text: string, allowRemote: boolean): Promise<URL> {
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
  const addresses = isIP(host)
    ? [host]
    : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
  if (addresses.length === 0) throw new LoadError(`--target host ${host} does not resolve`);
  if (!addresses.every(loopback)) {
    throw new LoadError(
      `--target ${host} is not this machine (loopback); pass --allow-remote to load a server you own`,
    );
  }
  return url;
}
