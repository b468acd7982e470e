import type { TernError } from './tern-error';

/** An RFC 9457 problem details object, with Tern's `code` extension. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: string;
  retryable: boolean;
  requestId?: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

const RESERVED = new Set(['type', 'title', 'status', 'detail', 'instance', 'code', 'retryable', 'requestId']);

export function problemType(code: string): string {
  return `urn:tern:problem:${code}`;
}

export function toProblem(
  error: TernError,
  context: { instance?: string; requestId?: string } = {},
): Problem {
  const problem: Problem = {
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    code: error.code,
    retryable: error.retryable,
  };
  if (error.message && error.message !== error.title) problem.detail = error.message;
  if (context.instance !== undefined) problem.instance = context.instance;
  if (context.requestId !== undefined) problem.requestId = context.requestId;
  for (const [key, value] of Object.entries(error.details)) {
    if (!RESERVED.has(key)) problem[key] = value;
  }
  return problem;
}
