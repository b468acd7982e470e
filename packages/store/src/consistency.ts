/**
 * Consistency tokens: a PostgreSQL WAL position (`pg_lsn` text, `16/B374D848`) that a replica must
 * have replayed to show a given commit. Tokens compare as 64-bit numbers.
 */
const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** The position a token names, or `undefined` when it is not a token. */
export function parseConsistencyToken(text: string): bigint | undefined {
  const match = LSN.exec(text);
  if (!match) return undefined;
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatConsistencyToken(position: bigint): string {
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function isConsistencyToken(text: string): boolean {
  return LSN.test(text);
}
