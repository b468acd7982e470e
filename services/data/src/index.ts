export {
  COLLECTION_NAME,
  FIELD_NAME,
  SYSTEM_FIELDS,
  fieldSql,
  isSystemField,
  tableName,
  valueSql,
} from './schema/field-sql';
