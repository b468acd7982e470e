import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import { OptionalKind } from '@sinclair/typebox';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Bodies are validated strictly: a number where a string is declared is an error, not a
 * conversion, and undeclared fields are refused rather than silently dropped. Query strings,
 * path parameters and headers arrive as text, so they are coerced to the declared types.
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const shared: Options = {
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
    code: { esm: true },
  };
  const strict = addFormats.default(new Ajv({ ...shared, coerceTypes: false }));
  const coercing = addFormats.default(new Ajv({ ...shared, coerceTypes: 'array' }));
  return ({ schema, httpPart }) => {
    if (httpPart !== 'body') return coercing.compile(schema as object);
    const validate = strict.compile(schema as object);
    // A body marked optional (`Type.Optional(...)`) may be left out entirely: a POST with no body.
    if (!(OptionalKind in (schema as object))) return validate;
    const optional = (data: unknown) => data === undefined || data === null || validate(data);
    // Fastify reads the reasons of a failure from the validator's `errors`.
    return Object.defineProperty(optional, 'errors', { get: () => validate.errors });
  };
}
