import type { FastifyInstance } from 'fastify';
import { runtimeErrors } from '@tern/errors';

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/**
 * Bodies are JSON (`application/json`, `application/merge-patch+json`) in UTF-8 and nothing
 * else: any other type is 415, and so is a JSON body declared in another charset, which would
 * otherwise be decoded as UTF-8 and stored corrupted.
 */
export function registerContentTypes(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/merge-patch+json'],
    { parseAs: 'string' },
    (request, body, done) => {
      const contentType = request.headers['content-type'] ?? '';
      const charset = CHARSET.exec(contentType)?.[1]?.toLowerCase();
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        done(runtimeErrors.unsupportedMediaType(contentType), undefined);
        return;
      }
      void parseJson(request, body as string, done);
    },
  );
}
