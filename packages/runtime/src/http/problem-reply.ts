import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isTernError, runtimeErrors, toProblem, PROBLEM_CONTENT_TYPE, TernError } from '@tern/errors';

/**
 * The one place where errors become HTTP. Framework errors (bad JSON, body limits, validation)
 * are translated to their stable Tern codes; anything unexpected is logged in full and
 * answered with a generic 500 that names the request id, never a stack trace.
 */
export function toTernError(
  error: unknown,
  context: { bodyLimitBytes: number; contentType?: string | undefined },
): TernError {
  if (isTernError(error)) return error;
  const fastifyError = error as Partial<FastifyError> & { validationContext?: string };
  if (Array.isArray(fastifyError.validation)) {
    const location = fastifyError.validationContext ?? 'body';
    return runtimeErrors.validationFailed(
      fastifyError.validation.map((issue) => ({
        location,
        path:
          issue.instancePath ||
          (issue.params && 'missingProperty' in issue.params
            ? `/${String(issue.params.missingProperty)}`
            : ''),
        message: issue.message ?? 'is invalid',
      })),
    );
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return runtimeErrors.bodyTooLarge(context.bodyLimitBytes);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return runtimeErrors.unsupportedMediaType(context.contentType);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return runtimeErrors.malformedJson('The request has a JSON content type but an empty body.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return runtimeErrors.malformedJson();
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return runtimeErrors.badRequest('Content-Length does not match the body.');
    case 'FST_ERR_BAD_URL':
      return runtimeErrors.badRequest('The URL is malformed.');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new TernError({
        code: 'runtime/uri-too-long',
        status: 414,
        title: 'URI Too Long',
        detail: 'A path segment is longer than 256 characters.',
      });
    default:
      break;
  }
  const status = fastifyError.statusCode;
  // The client's own fault (including hanging up mid-body) comes first: never a dependency outage.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const parserRefusal = error instanceof SyntaxError || fastifyError.code?.startsWith('FST_ERR_CTP_');
    // Prototype-poisoning rejections and other JSON parser refusals arrive as plain 400s.
    if (status === 400 && parserRefusal) return runtimeErrors.malformedJson(sanitize(fastifyError.message));
    if (status === 400) return runtimeErrors.badRequest(sanitize(fastifyError.message));
    return new TernError({
      code: 'runtime/bad-request',
      status,
      title: 'Bad Request',
      detail: sanitize(fastifyError.message),
    });
  }
  if (isConnectionFailure(error)) return runtimeErrors.dependencyUnavailable('infrastructure', error);
  return runtimeErrors.internal(error);
}

/** Network-level failures of PostgreSQL, Redis or NATS: the request may succeed on retry. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  '57P01', // PostgreSQL admin shutdown
  '57P03', // PostgreSQL cannot connect now
  '08006', // PostgreSQL connection failure
  'CONNECTION_CLOSED',
  'DISCONNECT',
  'TIMEOUT',
]);

function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  const message = error instanceof Error ? error.message : '';
  return /^(Connection is closed|Command timed out|Connection terminated|Stream isn't writeable)/.test(
    message,
  );
}

function sanitize(message: string | undefined): string {
  return (message ?? 'Bad request.').slice(0, 200);
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: TernError): FastifyReply {
  const problem = toProblem(error, {
    instance: request.url.split('?')[0]?.slice(0, 200) ?? '/',
    requestId: request.id,
  });
  void reply.header('x-request-id', request.id);
  for (const [name, value] of Object.entries(error.headers)) void reply.header(name, value);
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).serializer(JSON.stringify).send(problem);
}
