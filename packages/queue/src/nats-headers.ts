import { headers as natsHeaders, type MsgHdrs } from 'nats';

// Headers the queue itself (Tern-*) or the server (Nats-*) sets; never handed to a handler.
const RESERVED = /^(nats|tern)-/i;

export function toNatsHeaders(user: Record<string, string>, own: Record<string, string> = {}): MsgHdrs {
  const result = natsHeaders();
  for (const [name, value] of Object.entries(user)) result.set(name, value);
  for (const [name, value] of Object.entries(own)) result.set(name, value);
  return result;
}

export function userHeaders(headers: MsgHdrs | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (!headers) return result;
  for (const name of headers.keys()) if (!RESERVED.test(name)) result[name] = headers.get(name);
  return result;
}
