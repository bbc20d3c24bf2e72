-- ============================================================================================
-- Version
-- ============================================================================================

CALL pgtrickle._relay_define('relay_schema_version', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.relay_schema_version()
  RETURNS text
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
  AS $fn$ SELECT '1'::text $fn$;
$ddl$);
