/**
 * What of an error may be logged: message and code only. ioredis errors carry the failed
 * command's arguments (an AUTH password, a cached value), which must never reach a log.
 */
export function summarizeError(error: unknown): { message: string; code?: string } {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? { message: error.message, code } : { message: error.message };
}
