-- ============================================================================================
-- Config normalisation and validation
--
-- relay_normalize_config() turns any accepted config shape into the canonical one,
--   {"source": {"type": ..., <keys>}, "sink": {"type": ..., <keys>}, <pipeline options>},
-- with every key under its canonical name, or raises an error that names the key.
-- ============================================================================================

-- Edit distance for "did you mean" (fuzzystrmatch may not be installed).
CREATE OR REPLACE FUNCTION pgtrickle._relay_levenshtein(a text, b text)
RETURNS int
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  la   int := char_length(a);
  lb   int := char_length(b);
  prev int[];
  cur  int[];
BEGIN
  IF la = 0 OR lb = 0 THEN
    RETURN greatest(la, lb);
  END IF;
  prev := ARRAY(SELECT generate_series(0, lb));   -- prev[j + 1] = distance to b's first j chars
  FOR i IN 1 .. la LOOP
    cur := ARRAY[i];
    FOR j IN 1 .. lb LOOP
      cur := cur || least(prev[j + 1] + 1,
                          cur[j] + 1,
                          prev[j] + CASE WHEN substr(a, i, 1) = substr(b, j, 1) THEN 0 ELSE 1 END);
    END LOOP;
    prev := cur;
  END LOOP;
  RETURN prev[lb + 1];
END
$$;

-- ' (did you mean "x"?)' for the closest candidate, or '' when none is close.
CREATE OR REPLACE FUNCTION pgtrickle._relay_did_you_mean(p_word text, p_candidates text[])
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce((
    SELECT format(' (did you mean "%s"?)', c)
    FROM unnest(p_candidates) AS c
    WHERE pgtrickle._relay_levenshtein(lower(p_word), lower(c)) <= greatest(2, char_length(p_word) / 3)
    ORDER BY pgtrickle._relay_levenshtein(lower(p_word), lower(c)), c
    LIMIT 1), '')
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_config_error(p_pipeline text, p_message text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION USING
    ERRCODE = 'invalid_parameter_value',
    MESSAGE = 'relay.invalid_config: '
              || CASE WHEN p_pipeline IS NULL THEN '' ELSE format('pipeline "%s": ', p_pipeline) END
              || p_message;
END
$$;

-- Canonical backend for a type as written ('inbox' -> 'pg-inbox'), or NULL.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backend(p_role text, p_type text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT backend FROM pgtrickle.relay_backends
  WHERE role = p_role AND (backend = lower(p_type) OR lower(p_type) = ANY (type_aliases))
  ORDER BY backend = lower(p_type) DESC
  LIMIT 1
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_backend_prefixes(p_role text, p_backend text)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN cardinality(flat_prefixes) > 0 THEN flat_prefixes
              ELSE ARRAY[replace(backend, '-', '_') || '_'] END
  FROM pgtrickle.relay_backends
  WHERE role = p_role AND backend = p_backend
$$;

-- Canonical name of a key as written at one place (aliases resolved), or NULL.
CREATE OR REPLACE FUNCTION pgtrickle._relay_key(p_role text, p_backend text, p_key text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT key FROM pgtrickle.relay_config_keys
  WHERE role = p_role AND backend = p_backend AND (key = p_key OR p_key = ANY (aliases))
  ORDER BY key = p_key DESC
  LIMIT 1
$$;

-- Every spelling a place accepts (keys and aliases), each after p_prefix.
CREATE OR REPLACE FUNCTION pgtrickle._relay_key_spellings(p_role text, p_backend text, p_prefix text DEFAULT '')
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(array_agg(p_prefix || s ORDER BY s), '{}')
  FROM pgtrickle.relay_config_keys, unnest(key || aliases) AS s
  WHERE role = p_role AND backend = p_backend
$$;

-- How messages name a place: 'pipeline options', 'sink "nats"'.
CREATE OR REPLACE FUNCTION pgtrickle._relay_place(p_role text, p_backend text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p_role = 'pipeline' THEN 'pipeline options' ELSE format('%s "%s"', p_role, p_backend) END
$$;

-- ... and a key at that place: 'option "batch_size"', 'sink "nats" key "url"'.
CREATE OR REPLACE FUNCTION pgtrickle._relay_place_key(p_role text, p_backend text, p_key text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p_role = 'pipeline' THEN format('option "%s"', p_key)
              ELSE format('%s "%s" key "%s"', p_role, p_backend, p_key) END
$$;

-- ${ENV:NAME} and ${FILE:/path} are resolved by the relay when it starts a pipeline, so SQL
-- accepts them wherever a scalar is expected and never shows what they resolve to.
CREATE OR REPLACE FUNCTION pgtrickle._relay_is_reference(p_value jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(jsonb_typeof(p_value) = 'string'
                  AND (p_value #>> '{}') ~ '^\$\{(ENV:[A-Za-z_][A-Za-z0-9_]*|FILE:[^}]+)\}$', false)
$$;

-- Checks one value against its spec row; returns it in canonical form (enum spelling,
-- integers without fraction digits).
CREATE OR REPLACE FUNCTION pgtrickle._relay_check_value(p_pipeline text, p_spec pgtrickle.relay_config_keys, p_value jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_where    text := pgtrickle._relay_place_key(p_spec.role, p_spec.backend, p_spec.key);
  v_kind     text := jsonb_typeof(p_value);
  v_text     text := p_value #>> '{}';
  v_shown    text := CASE WHEN p_spec.secret THEN '***' ELSE left(p_value::text, 200) END;
  v_expected text;
  v_match    text;
  v_tokens   text[];
BEGIN
  -- A reference in a key naming an object would publish the secret it resolves to under that name.
  IF p_spec.names_object IS NOT NULL AND p_value::text ~ '\$\{(ENV|FILE):' THEN
    PERFORM pgtrickle._relay_config_error(p_pipeline, format(
      '%s names %s, which others can see: a reference (${ENV:...} or ${FILE:...}) is not allowed there, as its value '
      'would be published under that name; write the name itself', v_where, p_spec.names_object));
  END IF;
  IF pgtrickle._relay_is_reference(p_value) AND p_spec.value_type NOT IN ('object', 'array') THEN
    RETURN p_value;
  END IF;

  CASE p_spec.value_type
  WHEN 'string' THEN
    IF v_kind = 'string' THEN RETURN p_value; END IF;
    v_expected := 'a string';
  WHEN 'integer' THEN
    IF v_kind = 'number' THEN
      IF v_text::numeric = trunc(v_text::numeric) THEN
        IF v_text::numeric BETWEEN coalesce(p_spec.min_value, -9223372036854775808) AND coalesce(p_spec.max_value, 9223372036854775807) THEN
          RETURN to_jsonb(v_text::numeric::bigint);
        END IF;
        PERFORM pgtrickle._relay_config_error(p_pipeline, CASE
          WHEN p_spec.max_value = 9223372036854775807 THEN format('%s must be at least %s, got %s', v_where, p_spec.min_value, v_shown)
          ELSE format('%s must be between %s and %s, got %s', v_where, p_spec.min_value, p_spec.max_value, v_shown) END);
      END IF;
    END IF;
    v_expected := 'an integer';
  WHEN 'number' THEN
    IF v_kind = 'number' THEN RETURN p_value; END IF;
    v_expected := 'a number';
  WHEN 'boolean' THEN
    IF v_kind = 'boolean' THEN RETURN p_value; END IF;
    v_expected := 'true or false';
  WHEN 'object' THEN
    IF v_kind = 'object' THEN RETURN p_value; END IF;
    v_expected := 'a JSON object';
  WHEN 'array' THEN
    IF v_kind = 'array' THEN RETURN p_value; END IF;
    v_expected := 'a JSON array';
  WHEN 'string_list' THEN
    IF v_kind = 'string' THEN RETURN p_value; END IF;
    IF v_kind = 'array' THEN
      IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_value) AS e WHERE jsonb_typeof(e) <> 'string') THEN
        RETURN p_value;
      END IF;
    END IF;
    v_expected := 'a string or an array of strings';
  WHEN 'enum' THEN
    IF v_kind IN ('string', 'number', 'boolean') THEN
      SELECT a INTO v_match FROM unnest(p_spec.allowed) AS a WHERE lower(a) = lower(v_text) LIMIT 1;
      IF v_match IS NOT NULL THEN RETURN to_jsonb(v_match); END IF;
    END IF;
    v_expected := 'one of ' || (SELECT string_agg(format('"%s"', a), ', ') FROM unnest(p_spec.allowed) AS a);
  WHEN 'subject' THEN
    IF v_kind = 'string' THEN
      v_tokens := string_to_array(v_text, '.');
      IF '*' = ANY (v_tokens) OR '>' = ANY (v_tokens) THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          '%s: "%s" is a wildcard, but a publish subject must be concrete; use a template such as "%s"',
          v_where, v_text,
          array_to_string(ARRAY(SELECT CASE WHEN t IN ('*', '>') THEN '{op}' ELSE t END
                                FROM unnest(v_tokens) WITH ORDINALITY AS u(t, i) ORDER BY i), '.')));
      END IF;
      -- Template expressions may hold spaces and dots; what is left must be plain tokens.
      v_tokens := string_to_array(regexp_replace(v_text, '\{\{[^}]*\}\}|\{[A-Za-z_]+\}', 'x', 'g'), '.');
      IF v_text = '' OR '' = ANY (v_tokens) OR array_to_string(v_tokens, '.') ~ '\s' THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          '%s: "%s" is not a valid subject: it needs non-empty tokens separated by single dots, without spaces',
          v_where, v_text));
      END IF;
      RETURN p_value;
    END IF;
    v_expected := 'a string';
  WHEN 'slot_name' THEN
    IF v_kind = 'string' THEN
      IF pgtrickle._relay_is_slot_name(v_text) THEN RETURN p_value; END IF;
      PERFORM pgtrickle._relay_config_error(p_pipeline, format(
        '%s: "%s" is not a slot name the relay may create and drop: it must start with "pgtrickle_", then hold only '
        'lowercase letters, digits and underscores, 63 characters at most (e.g. "pgtrickle_orders"); slots named '
        'otherwise belong to other systems, which the relay never reads nor drops', v_where, v_text));
    END IF;
    v_expected := 'a string';
  END CASE;

  PERFORM pgtrickle._relay_config_error(p_pipeline, format('%s must be %s, got %s', v_where, v_expected, v_shown));
  RETURN NULL;
END
$$;

-- The backend of one side ('source' or 'sink'), from "<side>": {"type": ...} or "<side>_type".
CREATE OR REPLACE FUNCTION pgtrickle._relay_pick_backend(p_direction text, p_side text, p_config jsonb, p_pipeline text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_valid   text;
  v_written jsonb;
  v_from    text;
  v_found   text[] := '{}';
  v_origin  text[] := '{}';
  v_backend text;
BEGIN
  SELECT string_agg(backend, ', ' ORDER BY backend) INTO v_valid
  FROM pgtrickle.relay_backends WHERE role = p_side;

  IF p_config -> p_side IS NOT NULL AND jsonb_typeof(p_config -> p_side) <> 'object' THEN
    PERFORM pgtrickle._relay_config_error(p_pipeline,
      format('"%s" must be a JSON object such as {"type": "..."}', p_side));
  END IF;

  FOREACH v_from IN ARRAY ARRAY[p_side || '.type', p_side || '_type'] LOOP
    v_written := CASE WHEN v_from LIKE '%.type' THEN p_config -> p_side -> 'type' ELSE p_config -> (p_side || '_type') END;
    CONTINUE WHEN v_written IS NULL OR v_written = 'null'::jsonb;
    IF jsonb_typeof(v_written) <> 'string' THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline,
        format('%s must be a string; valid %s types: %s', v_from, p_side, v_valid));
    END IF;
    v_backend := pgtrickle._relay_backend(p_side, v_written #>> '{}');
    IF v_backend IS NULL THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline, format('unknown %s type "%s"%s; valid %s types: %s',
        p_side, v_written #>> '{}',
        pgtrickle._relay_did_you_mean(v_written #>> '{}',
          (SELECT array_agg(s) FROM pgtrickle.relay_backends, unnest(backend || type_aliases) AS s WHERE role = p_side)),
        p_side, v_valid));
    END IF;
    v_found := v_found || v_backend;
    v_origin := v_origin || v_from;
  END LOOP;

  IF cardinality(v_found) = 2 AND v_found[1] <> v_found[2] THEN
    PERFORM pgtrickle._relay_config_error(p_pipeline, format('%s type is given twice and differs: "%s" (%s) and "%s" (%s)',
      p_side, v_found[1], v_origin[1], v_found[2], v_origin[2]));
  END IF;

  v_backend := coalesce(v_found[1],
                        -- A forward pipeline naming "tables" reads them from the WAL; else an outbox.
                        CASE WHEN p_direction = 'forward' AND p_side = 'source' AND p_config ? 'tables' THEN 'wal'
                             WHEN p_direction = 'forward' AND p_side = 'source' THEN 'outbox'
                             WHEN p_direction = 'reverse' AND p_side = 'sink' THEN 'pg-inbox' END);
  IF v_backend IS NULL THEN
    PERFORM pgtrickle._relay_config_error(p_pipeline,
      format('%s_type is required; valid %s types: %s', p_side, p_side, v_valid));
  END IF;
  RETURN v_backend;
END
$$;

-- Accepts three shapes: canonical (nested "source"/"sink" objects with "type"), pg_trickle's
-- stored layout (source_type, source, sink_type, sink), and the flat form
-- ({"stream_table": ..., "sink_type": "nats", "nats_url": ...}), also mixed. A JSON null
-- means "not set" (pg_trickle stores "group": null).
CREATE OR REPLACE FUNCTION pgtrickle.relay_normalize_config(p_direction text, p_config jsonb, p_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_far     text := CASE p_direction WHEN 'forward' THEN 'sink' ELSE 'source' END;
  v_near    text := CASE p_direction WHEN 'forward' THEN 'source' ELSE 'sink' END;
  v_backend jsonb := '{"pipeline": "*"}';                           -- place -> backend
  v_out     jsonb := '{"pipeline": {}, "source": {}, "sink": {}}';  -- place -> {key: value}
  v_given   jsonb := '{}';                                          -- "place/key" -> spelling used
  v_entries jsonb := '[]';                                          -- [place, key, spelling, value]
  v_entry   jsonb;
  v_side    text;
  v_place   text;
  v_b       text;
  v_key     text;
  v_canon   text;
  v_prefix  text;
  v_val     jsonb;
  v_spec    pgtrickle.relay_config_keys;
  v_group   record;
  v_words   text[];
BEGIN
  IF p_direction IS NULL OR p_direction NOT IN ('forward', 'reverse') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('relay: direction must be ''forward'' or ''reverse'', not %s', coalesce(quote_literal(p_direction), 'NULL'));
  END IF;
  IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' THEN
    PERFORM _relay_config_error(p_name, 'the config must be a JSON object');
  END IF;

  -- Backends of both sides, and the direction they imply.
  FOREACH v_side IN ARRAY ARRAY['source', 'sink'] LOOP
    v_backend := v_backend || jsonb_build_object(v_side, _relay_pick_backend(p_direction, v_side, p_config, p_name));
  END LOOP;
  IF p_direction = 'forward' AND v_backend ->> 'source' NOT IN ('outbox', 'pgstream', 'wal') THEN
    PERFORM _relay_config_error(p_name, format(
      'a forward pipeline reads an outbox, a pgstream stream or tables from the WAL, so its source type must be "outbox", '
      '"pgstream" or "wal", not "%s"; '
      'a pipeline from %s into PostgreSQL is a reverse pipeline: use set_relay_inbox',
      v_backend ->> 'source', v_backend ->> 'source'));
  END IF;
  IF p_direction = 'reverse' AND v_backend ->> 'source' IN ('outbox', 'pgstream', 'wal') THEN
    PERFORM _relay_config_error(p_name, format(
      'a pipeline that reads %s is a forward pipeline: use set_relay_outbox',
      CASE v_backend ->> 'source' WHEN 'outbox' THEN 'an outbox' WHEN 'wal' THEN 'tables from the WAL' ELSE 'a pgstream stream' END));
  END IF;
  IF p_direction = 'reverse' AND v_backend ->> 'sink' <> 'pg-inbox' THEN
    PERFORM _relay_config_error(p_name, format(
      'a reverse pipeline writes into a PostgreSQL inbox, so its sink type must be "pg-inbox", not "%s"; '
      'a pipeline from an outbox to %s is a forward pipeline: use set_relay_outbox',
      v_backend ->> 'sink', v_backend ->> 'sink'));
  END IF;

  -- Keys nested under "source" and "sink".
  FOREACH v_side IN ARRAY ARRAY['source', 'sink'] LOOP
    CONTINUE WHEN jsonb_typeof(p_config -> v_side) IS DISTINCT FROM 'object';
    v_b := v_backend ->> v_side;
    FOR v_key, v_val IN
      SELECT key, value FROM jsonb_each(p_config -> v_side) WHERE key <> 'type' AND value <> 'null'::jsonb
    LOOP
      v_canon := _relay_key(v_side, v_b, v_key);
      -- librdkafka pass-through written as "rdkafka.<property>": folded into the rdkafka object below.
      IF v_canon IS NULL AND starts_with(v_key, 'rdkafka.') AND _relay_key(v_side, v_b, 'rdkafka') IS NOT NULL THEN
        v_canon := v_key;
      END IF;
      IF v_canon IS NULL THEN
        PERFORM _relay_config_error(p_name, format('%s has no key "%s"%s; its keys are: %s',
          _relay_place(v_side, v_b), v_key,
          _relay_did_you_mean(v_key, _relay_key_spellings(v_side, v_b)),
          (SELECT string_agg(key, ', ' ORDER BY key) FROM relay_config_keys WHERE role = v_side AND backend = v_b)));
      END IF;
      v_entries := v_entries || jsonb_build_array(jsonb_build_array(v_side, v_canon, v_key, v_val));
    END LOOP;
  END LOOP;

  -- Flat keys go, in this order, to: a pipeline option; a backend key written with that
  -- backend's prefix ("nats_url"); an unprefixed key of the far side (the sink of a forward
  -- pipeline, the source of a reverse one); an unprefixed key of the near side.
  FOR v_key, v_val IN
    SELECT key, value FROM jsonb_each(p_config)
    WHERE key NOT IN ('source', 'sink', 'source_type', 'sink_type') AND value <> 'null'::jsonb
  LOOP
    v_place := NULL;
    v_canon := _relay_key('pipeline', '*', v_key);
    IF v_canon IS NOT NULL THEN
      v_place := 'pipeline';
      -- A key both a pipeline option and a far-side key ("format": "csv" for a file sink) goes
      -- to the side whose allowed values include it.
      IF jsonb_typeof(v_val) = 'string'
         AND EXISTS (SELECT 1 FROM relay_config_keys WHERE role = 'pipeline' AND key = v_canon
                     AND allowed IS NOT NULL AND NOT lower(v_val #>> '{}') = ANY (SELECT lower(a) FROM unnest(allowed) a))
         AND EXISTS (SELECT 1 FROM relay_config_keys WHERE role = v_far AND backend = v_backend ->> v_far AND key = v_key
                     AND allowed IS NOT NULL AND lower(v_val #>> '{}') = ANY (SELECT lower(a) FROM unnest(allowed) a)) THEN
        v_place := v_far;
      END IF;
    END IF;
    IF v_place IS NULL THEN
      <<prefixed>>
      FOREACH v_side IN ARRAY ARRAY[v_far, v_near] LOOP
        FOREACH v_prefix IN ARRAY _relay_backend_prefixes(v_side, v_backend ->> v_side) LOOP
          IF starts_with(v_key, v_prefix) THEN
            v_canon := _relay_key(v_side, v_backend ->> v_side, substr(v_key, char_length(v_prefix) + 1));
            IF v_canon IS NOT NULL THEN
              v_place := v_side;
              EXIT prefixed;
            END IF;
          END IF;
        END LOOP;
      END LOOP;
    END IF;
    IF v_place IS NULL THEN
      FOREACH v_side IN ARRAY ARRAY[v_far, v_near] LOOP
        v_canon := _relay_key(v_side, v_backend ->> v_side, v_key);
        IF v_canon IS NOT NULL THEN
          v_place := v_side;
          EXIT;
        END IF;
      END LOOP;
    END IF;
    IF v_place IS NULL AND starts_with(v_key, 'rdkafka.') THEN
      FOREACH v_side IN ARRAY ARRAY[v_far, v_near] LOOP
        IF _relay_key(v_side, v_backend ->> v_side, 'rdkafka') IS NOT NULL THEN
          v_place := v_side;
          v_canon := v_key;
          EXIT;
        END IF;
      END LOOP;
    END IF;
    IF v_place IS NULL THEN
      SELECT array_agg(DISTINCT s) INTO v_words
      FROM (VALUES ('pipeline', '*'), ('source', v_backend ->> 'source'), ('sink', v_backend ->> 'sink')) AS p(role, backend)
      CROSS JOIN LATERAL unnest(ARRAY[''] || CASE WHEN p.role = 'pipeline' THEN '{}'::text[]
                                                  ELSE _relay_backend_prefixes(p.role, p.backend) END) AS x(prefix)
      CROSS JOIN LATERAL unnest(_relay_key_spellings(p.role, p.backend, x.prefix)) AS s;
      PERFORM _relay_config_error(p_name, format(
        'unknown key "%s"%s; a %s pipeline from "%s" to "%s" accepts the keys of %s, %s and the pipeline options (see pgtrickle.relay_config_keys)',
        v_key, _relay_did_you_mean(v_key, v_words), p_direction, v_backend ->> 'source', v_backend ->> 'sink',
        _relay_place('source', v_backend ->> 'source'), _relay_place('sink', v_backend ->> 'sink')));
    END IF;
    v_entries := v_entries || jsonb_build_array(jsonb_build_array(v_place, v_canon, v_key, v_val));
  END LOOP;

  -- Values.
  FOR v_entry IN SELECT value FROM jsonb_array_elements(v_entries) LOOP
    v_place := v_entry ->> 0;
    v_canon := v_entry ->> 1;
    v_key   := v_entry ->> 2;
    v_b     := v_backend ->> v_place;
    IF starts_with(v_canon, 'rdkafka.') THEN
      v_out := jsonb_set(v_out, ARRAY[v_place, 'rdkafka'], coalesce(v_out #> ARRAY[v_place, 'rdkafka'], '{}'::jsonb)
               || jsonb_build_object(substr(v_canon, 9), CASE WHEN jsonb_typeof(v_entry -> 3) = 'string'
                                                          THEN v_entry -> 3 ELSE to_jsonb((v_entry -> 3) #>> '{}') END));
      CONTINUE;
    END IF;
    IF v_given ? (v_place || '/' || v_canon) THEN
      PERFORM _relay_config_error(p_name, format('%s is given twice, as "%s" and as "%s"',
        _relay_place_key(v_place, v_b, v_canon), v_given ->> (v_place || '/' || v_canon), v_key));
    END IF;
    v_given := v_given || jsonb_build_object(v_place || '/' || v_canon, v_key);
    SELECT * INTO STRICT v_spec FROM relay_config_keys WHERE role = v_place AND backend = v_b AND key = v_canon;
    v_out := jsonb_set(v_out, ARRAY[v_place, v_canon], _relay_check_value(p_name, v_spec, v_entry -> 3));
  END LOOP;

  -- Debezium's topic naming, <topic.prefix>.<schema>.<table>, for a Kafka sink of format debezium
  -- that names no topic.
  IF v_backend ->> 'sink' = 'kafka' AND v_out #>> '{pipeline,format}' = 'debezium' AND NOT ((v_out -> 'sink') ? 'topic') THEN
    v_out := jsonb_set(v_out, '{sink,topic}',
                       to_jsonb(coalesce(v_out #>> '{pipeline,topic_prefix}', p_name) || '.{schema}.{table}'));
  END IF;

  -- Debezium's outbox event router names a Kafka sink's topic: route.topic.replacement over
  -- route.by.field (each key with or without a connector's "transforms.<name>." prefix).
  IF v_backend ->> 'sink' = 'kafka' AND v_out #>> '{pipeline,format}' = 'outbox_event_router' AND NOT ((v_out -> 'sink') ? 'topic') THEN
    SELECT coalesce(max(value) FILTER (WHERE key ~ '^(transforms\.[^.]+\.)?route\.topic\.replacement$'), 'outbox.event.${routedByValue}'),
           '{{ ' || coalesce(max(value) FILTER (WHERE key ~ '^(transforms\.[^.]+\.)?route\.by\.field$'), 'aggregatetype') || ' }}'
      INTO v_key, v_canon
    FROM jsonb_each_text(coalesce(v_out #> '{pipeline,outbox_event_router}', '{}'));
    v_key := replace(replace(replace(v_key, '${routedByValue}', v_canon), '$1', v_canon), '$0', v_canon);
    IF v_key LIKE '%$%' THEN
      PERFORM _relay_config_error(p_name, format('"route.topic.replacement" "%s": a ''$'' starts ${routedByValue} (or $1), the value of route.by.field', v_key));
    END IF;
    v_out := jsonb_set(v_out, '{sink,topic}', to_jsonb(v_key));
  END IF;

  -- Required keys and one-of groups.
  FOREACH v_place IN ARRAY ARRAY['pipeline', 'source', 'sink'] LOOP
    v_b := v_backend ->> v_place;
    SELECT key INTO v_canon FROM relay_config_keys
    WHERE role = v_place AND backend = v_b AND required AND NOT ((v_out -> v_place) ? key)
    ORDER BY key LIMIT 1;
    IF FOUND THEN
      PERFORM _relay_config_error(p_name, format('%s needs key "%s"%s', _relay_place(v_place, v_b), v_canon,
        CASE WHEN v_place <> 'pipeline' AND jsonb_typeof(p_config -> v_place) IS DISTINCT FROM 'object'
             THEN format(' (flat form: "%s%s")', (_relay_backend_prefixes(v_place, v_b))[1], v_canon) ELSE '' END));
    END IF;
    FOR v_group IN
      SELECT array_agg(key ORDER BY key) AS keys,
             array_agg(key ORDER BY key) FILTER (WHERE (v_out -> v_place) ? key) AS given
      FROM relay_config_keys
      WHERE role = v_place AND backend = v_b AND one_of IS NOT NULL
      GROUP BY one_of ORDER BY one_of
    LOOP
      IF coalesce(cardinality(v_group.given), 0) <> 1 THEN
        PERFORM _relay_config_error(p_name, format('%s needs exactly one of %s%s', _relay_place(v_place, v_b),
          array_to_string(v_group.keys, ', '),
          CASE WHEN cardinality(v_group.given) > 1 THEN format(', got %s', array_to_string(v_group.given, ' and ')) ELSE '' END));
      END IF;
    END LOOP;
  END LOOP;

  IF (v_out #>> '{pipeline,backfill}') = 'initial' AND p_direction <> 'forward' THEN
    PERFORM _relay_config_error(p_name, '"backfill": "initial" sends a table''s existing rows, so only a forward pipeline reading an outbox (source type "outbox") takes it');
  END IF;
  -- The options of a format need that format.
  SELECT k INTO v_canon FROM unnest(ARRAY['topic_prefix', 'schemas', 'tombstones', 'skipped_operations', 'decimal_handling',
                                          'time_precision', 'binary_handling', 'interval_handling', 'hstore_handling',
                                          'column_propagate_source_type', 'datatype_propagate_source_type',
                                          'include_unknown_datatypes', 'heartbeat_interval_ms', 'topic_heartbeat_prefix',
                                          'heartbeat_action_query', 'provide_transaction_metadata', 'topic_transaction']) AS k
  WHERE (v_out -> 'pipeline') ? k AND (v_out #>> '{pipeline,format}') IS DISTINCT FROM 'debezium'
    AND ((v_out #>> '{pipeline,format}') IS DISTINCT FROM 'outbox_event_router'
         OR k IN ('tombstones', 'skipped_operations', 'column_propagate_source_type', 'datatype_propagate_source_type',
                  'include_unknown_datatypes', 'heartbeat_interval_ms', 'topic_heartbeat_prefix', 'heartbeat_action_query',
                  'provide_transaction_metadata', 'topic_transaction')) LIMIT 1;
  IF FOUND AND (v_out #>> '{pipeline,format}') = 'outbox_event_router' THEN
    PERFORM _relay_config_error(p_name, format('"%s" shapes Debezium''s change events; the outbox event router sends only inserted rows'' payloads, and no tombstones', v_canon));
  ELSIF FOUND THEN
    PERFORM _relay_config_error(p_name, format('"%s" shapes Debezium''s change events: it needs "format": "debezium"', v_canon));
  END IF;
  IF (v_out #>> '{pipeline,format}') = 'debezium' AND (v_out -> 'pipeline') ? 'heartbeat_action_query' THEN
    PERFORM _relay_config_error(p_name, '"heartbeat_action_query" is not offered: the relay confirms the server''s WAL position itself '
      'while the pipeline''s tables are idle; a heartbeat row some consumer expects is best written by the database on a schedule');
  END IF;
  IF (v_out #>> '{pipeline,format}') = 'debezium' AND coalesce((v_out #>> '{pipeline,heartbeat_interval_ms}')::bigint, 0) > 0
     AND (v_backend ->> 'source' IS DISTINCT FROM 'wal' OR v_backend ->> 'sink' IS DISTINCT FROM 'kafka') THEN
    PERFORM _relay_config_error(p_name, format('"heartbeat_interval_ms" sends Debezium''s heartbeats to a Kafka topic: it needs '
      'source type "wal" and a kafka sink, got %s and %s', v_backend ->> 'source', v_backend ->> 'sink'));
  END IF;
  IF (v_out #>> '{pipeline,format}') = 'debezium' AND coalesce((v_out #>> '{pipeline,provide_transaction_metadata}')::boolean, false)
     AND (v_backend ->> 'source' IS DISTINCT FROM 'wal' OR v_backend ->> 'sink' IS DISTINCT FROM 'kafka') THEN
    PERFORM _relay_config_error(p_name, format('"provide_transaction_metadata" sends each transaction''s BEGIN and END to a Kafka '
      'topic and places each change in its transaction, which the WAL tells: it needs source type "wal" and a kafka sink, got %s and %s',
      v_backend ->> 'source', v_backend ->> 'sink'));
  END IF;
  IF (v_out -> 'pipeline') ? 'outbox_event_router' AND (v_out #>> '{pipeline,format}') IS DISTINCT FROM 'outbox_event_router' THEN
    PERFORM _relay_config_error(p_name, '"outbox_event_router" holds the settings of Debezium''s outbox event router: it needs "format": "outbox_event_router"');
  END IF;
  SELECT key INTO v_canon FROM jsonb_object_keys(coalesce(v_out #> '{pipeline,outbox_event_router}', '{}')) AS key
  WHERE regexp_replace(key, '^transforms\.[^.]+\.', '') NOT IN ('type', 'table.field.event.id', 'table.field.event.key',
    'table.field.event.type', 'table.field.event.payload', 'route.by.field', 'route.topic.replacement', 'route.topic.regex',
    'table.fields.additional.placement', 'table.field.additional.missing', 'table.expand.json.payload',
    'table.json.payload.null.behavior', 'table.json.payload.empty.array.behavior', 'table.op.invalid.behavior',
    'route.tombstone.on.empty.payload', 'table.field.event.timestamp', 'table.field.event.schema.version') LIMIT 1;
  IF FOUND THEN
    PERFORM _relay_config_error(p_name, format('outbox_event_router "%s" is none of the router''s settings: table.field.event.id, '
      'table.field.event.key, table.field.event.payload, route.by.field, route.topic.replacement, table.fields.additional.placement, '
      'table.field.additional.missing, table.expand.json.payload, table.json.payload.null.behavior, '
      'table.json.payload.empty.array.behavior, table.op.invalid.behavior', v_canon));
  END IF;
  IF (v_out -> 'pipeline') ? 'cloudevents_mode' AND (v_out #>> '{pipeline,format}') IS DISTINCT FROM 'cloudevents' THEN
    PERFORM _relay_config_error(p_name, '"cloudevents_mode" says how CloudEvents travel: it needs "format": "cloudevents"');
  END IF;
  IF (v_out #>> '{pipeline,cloudevents_mode}') = 'binary' AND v_backend ->> 'sink' = 'webhook' AND (v_out #>> '{sink,batch}') = 'true' THEN
    PERFORM _relay_config_error(p_name, '"cloudevents_mode": "binary" puts each event''s attributes in the headers of its own request, '
      'and a batched request carries many events: use "cloudevents_mode": "structured" with "batch": true, or "batch": false');
  END IF;
  IF (v_out #>> '{pipeline,format}') IN ('debezium', 'outbox_event_router') THEN
    IF p_direction <> 'forward' THEN
      PERFORM _relay_config_error(p_name, format('"format": "%s" describes row changes a forward pipeline sends; a reverse pipeline stores what it receives as it is', v_out #>> '{pipeline,format}'));
    ELSIF (v_out #>> '{pipeline,granularity}') = 'delta' THEN
      PERFORM _relay_config_error(p_name, format('"format": "%s" sends one record per row: it needs "granularity": "row", got "delta"', v_out #>> '{pipeline,format}'));
    ELSIF v_backend ->> 'source' = 'pgstream' THEN
      PERFORM _relay_config_error(p_name, 'a pgstream stream sends the events its subscriptions define, not row changes: use "format": "json" or "cloudevents" for it');
    ELSIF (v_out #>> '{pipeline,topic_prefix}') = '' THEN
      PERFORM _relay_config_error(p_name, '"topic_prefix" must not be empty (it names the events'' source)');
    END IF;
  END IF;
  -- The converters of a Kafka sink or source: Avro needs a registry, and a sink a Debezium format
  -- (its envelope has the schema to register); the registry's keys need Avro (normalize.cpp).
  FOREACH v_place IN ARRAY ARRAY['sink', 'source'] LOOP
    CONTINUE WHEN v_backend ->> v_place IS DISTINCT FROM 'kafka';
    v_canon := CASE WHEN (v_out #>> ARRAY[v_place, 'value_converter']) = 'avro' THEN 'value_converter'
                    WHEN coalesce(v_out #>> ARRAY[v_place, 'key_converter'], v_out #>> ARRAY[v_place, 'value_converter']) = 'avro'
                    THEN 'key_converter' END;
    IF v_canon IS NULL THEN
      SELECT k INTO v_canon FROM unnest(ARRAY['schema_registry_url', 'schema_registry_username', 'schema_registry_password',
                                              'schema_registry_tls_ca', 'schema_registry_tls_cert', 'schema_registry_tls_key',
                                              'subject_name_strategy', 'schema_unavailable']) AS k WHERE (v_out -> v_place) ? k LIMIT 1;
      IF FOUND THEN
        PERFORM _relay_config_error(p_name, format('%s "kafka": "%s" is for the avro converter: set "value_converter": "avro" '
          '(or "key_converter") to use it', v_place, v_canon));
      END IF;
      CONTINUE;
    END IF;
    IF v_place = 'sink' AND coalesce(v_out #>> '{pipeline,format}', 'json') NOT IN ('debezium', 'outbox_event_router') THEN
      PERFORM _relay_config_error(p_name, format('sink "kafka": "%s": "avro" writes Debezium''s events as Kafka Connect''s Avro '
        'converter does, from their schemas: it needs "format": "debezium" or "outbox_event_router", got "%s"',
        v_canon, coalesce(v_out #>> '{pipeline,format}', 'json')));
    END IF;
    IF NOT (v_out -> v_place) ? 'schema_registry_url' THEN
      PERFORM _relay_config_error(p_name, format('%s "kafka": "%s": "avro" %s each record''s schema: it needs '
        '"schema_registry_url" (e.g. "http://registry:8081", or Apicurio Registry''s "http://registry:8080/apis/ccompat/v7")',
        v_place, v_canon, CASE WHEN v_place = 'sink' THEN 'registers' ELSE 'reads' END));
    END IF;
  END LOOP;
  -- Exactly once commits each batch into Kafka with the pipeline's position (normalize.cpp).
  IF (v_out #>> '{pipeline,delivery}') = 'exactly_once' THEN
    IF p_direction <> 'forward' OR v_backend ->> 'sink' <> 'kafka' OR v_backend ->> 'source' NOT IN ('outbox', 'wal', 'pgstream') THEN
      PERFORM _relay_config_error(p_name, format('"delivery": "exactly_once" commits each batch into Kafka together with the pipeline''s '
        'position, so it needs a "kafka" sink and a source of type "outbox", "wal" or "pgstream" (got source "%s", sink "%s"); other '
        'targets deduplicate by the messages'' dedup identity: use "delivery": "at_least_once"', v_backend ->> 'source', v_backend ->> 'sink'));
    END IF;
    IF coalesce(v_out #>> '{sink,acks}', 'all') <> 'all' THEN
      PERFORM _relay_config_error(p_name, format('"delivery": "exactly_once" writes with Kafka''s transactional producer, which needs '
        '"acks": "all" (got "%s")', v_out #>> '{sink,acks}'));
    END IF;
    SELECT k INTO v_canon FROM unnest(ARRAY['transactional.id', 'enable.idempotence']) AS k WHERE (v_out #> '{sink,rdkafka}') ? k LIMIT 1;
    IF FOUND THEN
      PERFORM _relay_config_error(p_name, format('"delivery": "exactly_once" sets "rdkafka.%s" itself (the transactional id is '
        'pgtrickle-relay-<database>-<relay group>-<pipeline>, so that a new owner fences the old one): remove this key', v_canon));
    END IF;
  ELSIF v_backend ->> 'sink' = 'kafka' AND (v_out -> 'sink') ? 'positions_topic' THEN
    PERFORM _relay_config_error(p_name, '"positions_topic" is where "delivery": "exactly_once" commits the pipeline''s position: set '
      '"delivery": "exactly_once" to use it, or remove it');
  END IF;
  -- The relay group: "relay_group", or the outbox source's "group" (pg_trickle's p_group).
  IF (v_out #>> '{pipeline,relay_group}') = '' THEN
    PERFORM _relay_config_error(p_name, 'relay_group must name a relay group (or be left out: any relay group may run it)');
  END IF;
  IF v_out #>> '{pipeline,relay_group}' <> v_out #>> '{source,group}' THEN
    PERFORM _relay_config_error(p_name, format('relay_group "%s" and source group "%s" disagree; the source''s "group" is the relay group '
      'too (pg_trickle''s p_group): keep one of them', v_out #>> '{pipeline,relay_group}', v_out #>> '{source,group}'));
  END IF;

  RETURN (v_out -> 'pipeline')
      || jsonb_build_object('source', jsonb_build_object('type', v_backend ->> 'source') || (v_out -> 'source'),
                            'sink',   jsonb_build_object('type', v_backend ->> 'sink') || (v_out -> 'sink'));
END
$$;
