-- ============================================================================================
-- Config redaction: configs as shown to readers (get_relay_config, list_relay_configs)
--
-- What could be a secret is "***". The relay applies the same rules to what it logs and shows on
-- /health:
--   keys marked secret in the spec;
--   in every string (also in lists), a URL's password (scheme://user:***@host), the value of a
--   URL query parameter whose name contains token, key, secret, password, passwd, pwd,
--   signature, sig, auth or credential (any case), and a conninfo's password= / sslpassword=;
--   every value of a sink's "headers" object;
--   librdkafka properties (in "rdkafka" or as rdkafka.<name> keys) whose name contains password,
--   secret, token, key.pem, private or oauthbearer.config (any case).
-- References ("${ENV:NAME}", "${FILE:/path}") stay as written, whole or inside a URL: they hold
-- no secret. Works on every stored layout.
--
-- A listing redacts every pipeline's config, so the work per config is kept small: the spellings
-- of the secret keys are looked up once per statement (_relay_secret_spellings), and each level
-- is walked in PL/pgSQL, whose expressions keep their state, where nested SQL functions would be
-- planned again at every call (a millisecond a config, a second for a listing of 1,000).
-- ============================================================================================

-- The spellings of the keys marked secret, by the level they are written at: "<role>/<backend>"
-- (a source's or sink's object of a known type), "<role>/" (of an unknown type: any backend),
-- and "" (the top of a flat config: any role and backend). A spelling is a key or an alias, bare
-- or with one of the backend's flat prefixes.
CREATE OR REPLACE FUNCTION pgtrickle._relay_secret_spellings()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  WITH s AS (
    SELECT k.role, k.backend, x.prefix || s.spelling AS spelling
    FROM pgtrickle.relay_config_keys AS k
    JOIN pgtrickle.relay_backends AS b USING (role, backend)
    CROSS JOIN LATERAL unnest(ARRAY[''] || CASE WHEN cardinality(b.flat_prefixes) > 0 THEN b.flat_prefixes
                                                ELSE ARRAY[replace(b.backend, '-', '_') || '_'] END) AS x(prefix)
    CROSS JOIN LATERAL unnest(k.key || k.aliases) AS s(spelling)
    WHERE k.secret)
  SELECT coalesce(jsonb_object_agg(l.level, l.spellings), '{}') FROM (
    SELECT s.role || '/' || s.backend AS level, jsonb_agg(DISTINCT s.spelling) AS spellings FROM s GROUP BY s.role, s.backend
    UNION ALL
    SELECT s.role || '/', jsonb_agg(DISTINCT s.spelling) FROM s GROUP BY s.role
    UNION ALL
    SELECT '', jsonb_agg(DISTINCT s.spelling) FROM s) AS l
$$;

-- True when a key, as written at a place (or flat, with or without a backend prefix), is
-- marked secret. NULL role/backend: any.
CREATE OR REPLACE FUNCTION pgtrickle._relay_is_secret_key(p_role text, p_backend text, p_key text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(pgtrickle._relay_secret_spellings()
                  -> (CASE WHEN p_role IS NULL THEN '' ELSE p_role || '/' || coalesce(p_backend, '') END) ? p_key, false)
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_redact_text(p_text text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(p_text,
    '([A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*):(?!\$\{(ENV|FILE):)[^/@\s?#]+@', '\1:***@', 'g'),
    '([?&][^=&#\s]*(token|key|secret|password|passwd|pwd|signature|sig|auth|credential)[^=&#\s]*=)(?!\$\{(ENV|FILE):)[^&#\s]*',
    '\1***', 'gi'),
    '((^|\s)(ssl)?password=)(?!\$\{(ENV|FILE):)(''[^'']*''|[^\s&]*)', '\1***', 'g')
$$;

-- _relay_redact_text on a string, or on each string of a list.
CREATE OR REPLACE FUNCTION pgtrickle._relay_redact_url(p_value jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_out jsonb := '[]';
  v_e   jsonb;
BEGIN
  CASE jsonb_typeof(p_value)
    WHEN 'string' THEN
      RETURN to_jsonb(pgtrickle._relay_redact_text(p_value #>> '{}'));
    WHEN 'array' THEN
      FOR v_e IN SELECT e FROM jsonb_array_elements(p_value) AS x(e) LOOP
        v_out := v_out || jsonb_build_array(CASE WHEN jsonb_typeof(v_e) = 'string'
                                                 THEN to_jsonb(pgtrickle._relay_redact_text(v_e #>> '{}')) ELSE v_e END);
      END LOOP;
      RETURN v_out;
    ELSE
      RETURN p_value;
  END CASE;
END
$$;

-- A librdkafka property that holds a secret.
CREATE OR REPLACE FUNCTION pgtrickle._relay_is_secret_rdkafka(p_name text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT p_name ~* '(password|secret|token|key\.pem|private|oauthbearer\.config)' $$;

-- An object whose every value is "***" but references (a sink's headers), or whose secret
-- librdkafka properties are (p_rdkafka).
CREATE OR REPLACE FUNCTION pgtrickle._relay_redact_members(p_object jsonb, p_rdkafka boolean)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_out   jsonb := '{}';
  v_key   text;
  v_value jsonb;
BEGIN
  FOR v_key, v_value IN SELECT m.key, m.value FROM jsonb_each(p_object) AS m LOOP
    v_out := v_out || jsonb_build_object(v_key, CASE
      WHEN pgtrickle._relay_is_reference(v_value) THEN v_value
      WHEN NOT p_rdkafka OR pgtrickle._relay_is_secret_rdkafka(v_key) THEN '"***"'::jsonb
      ELSE pgtrickle._relay_redact_url(v_value) END);
  END LOOP;
  RETURN v_out;
END
$$;

-- One level of a config (a source, a sink, or the top of a flat config; p_role and p_backend
-- NULL for the top) with its secrets redacted. p_secrets: _relay_secret_spellings().
CREATE OR REPLACE FUNCTION pgtrickle._relay_redact_level(p_level jsonb, p_role text, p_backend text, p_secrets jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_secret jsonb := coalesce(p_secrets -> (CASE WHEN p_role IS NULL THEN '' ELSE p_role || '/' || coalesce(p_backend, '') END), '[]');
  v_out    jsonb := '{}';
  v_key    text;
  v_value  jsonb;
BEGIN
  FOR v_key, v_value IN SELECT l.key, l.value FROM jsonb_each(p_level) AS l LOOP
    v_out := v_out || jsonb_build_object(v_key, CASE
      WHEN pgtrickle._relay_is_reference(v_value) THEN v_value
      WHEN v_secret ? v_key THEN '"***"'::jsonb
      WHEN v_key ~ '(^|_)headers$' AND jsonb_typeof(v_value) = 'object' AND coalesce(p_role, 'sink') = 'sink' THEN
        pgtrickle._relay_redact_members(v_value, false)
      WHEN v_key ~ '(^|_)rdkafka$' AND jsonb_typeof(v_value) = 'object' THEN
        pgtrickle._relay_redact_members(v_value, true)
      WHEN v_key ~ '(^|_)rdkafka\.' AND pgtrickle._relay_is_secret_rdkafka(substring(v_key FROM 'rdkafka\.(.*)$')) THEN '"***"'::jsonb
      ELSE pgtrickle._relay_redact_url(v_value) END);
  END LOOP;
  RETURN v_out;
END
$$;

DROP FUNCTION IF EXISTS pgtrickle._relay_redact_level(jsonb, text, text);

-- A config with its secrets redacted. A statement redacting many passes p_secrets, looked up once
-- (_relay_secret_spellings()).
CREATE OR REPLACE FUNCTION pgtrickle._relay_redact(p_config jsonb, p_secrets jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v      jsonb;
  v_side text;
BEGIN
  IF jsonb_typeof(p_config) IS DISTINCT FROM 'object' THEN
    RETURN p_config;
  END IF;
  v := pgtrickle._relay_redact_level(p_config - 'source' - 'sink', NULL, NULL, p_secrets);
  FOREACH v_side IN ARRAY ARRAY['source', 'sink'] LOOP
    CONTINUE WHEN NOT p_config ? v_side;
    v := v || jsonb_build_object(v_side, CASE WHEN jsonb_typeof(p_config -> v_side) = 'object' THEN
      pgtrickle._relay_redact_level(p_config -> v_side, v_side,
        pgtrickle._relay_backend(v_side, coalesce(p_config -> v_side ->> 'type', p_config ->> (v_side || '_type'))), p_secrets)
      ELSE p_config -> v_side END);
  END LOOP;
  RETURN v;
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_redact(p_config jsonb)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pgtrickle._relay_redact(p_config, pgtrickle._relay_secret_spellings()) $$;

-- Where a config holds a secret as literal text (what _relay_redact hides): 'sink.password', ...
CREATE OR REPLACE FUNCTION pgtrickle._relay_literal_secrets(p_config jsonb)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  WITH r AS (SELECT pgtrickle._relay_redact(p_config) AS redacted)
  SELECT coalesce(array_agg(x.path ORDER BY x.path), '{}')
  FROM r, LATERAL (
    SELECT t.key AS path FROM jsonb_each(p_config) AS t
    WHERE t.key NOT IN ('source', 'sink') AND t.value IS DISTINCT FROM r.redacted -> t.key
    UNION ALL
    SELECT side || '.' || k.key FROM unnest(ARRAY['source', 'sink']) AS side, jsonb_each(p_config -> side) AS k
    WHERE jsonb_typeof(p_config -> side) = 'object' AND k.value IS DISTINCT FROM r.redacted -> side -> k.key
  ) AS x
$$;
