export { createDataService, dataService } from './data-service';
export {
  COLLECTION_NAME,
  FIELD_NAME,
  SYSTEM_FIELDS,
  fieldSql,
  isSystemField,
  tableName,
  valueSql,
} from './schema/field-sql';
export {
  collectionErrors,
  compileSchema,
  BUILT_IN_INDEXES,
  createCollectionSql,
  createIndexSql,
  createTableSql,
  diffIndexes,
  dropIndexSql,
  indexName,
  parseDefinition,
  type CollectionDefinition,
  type IndexDefinition,
  type RuleSources,
} from './collections/collection-definition';
export {
  compileQuery,
  encodeCursor,
  parseQuery,
  servingIndex,
  QUERY_LIMITS,
  type CompiledQuery,
  type DocumentQuery,
} from './query/compile-query';
export { queryErrors } from './query/query-errors';
export { compileRule, OWNER_ONLY, type CompiledRule, type RuleAuth } from './rules/compile-rule';
