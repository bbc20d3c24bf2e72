-- The config cases both normalisations must agree on (tests/config/cases.json; the relay's side is
-- tests/unit/config_cases_test.cpp): relay_normalize_config gives each config's canonical form
-- exactly, or an error naming each of its error_names.
\set cases `cat tests/config/cases.json`
SELECT set_config('test.config_cases', :'cases', false) IS NOT NULL AS cases_read;

DO $$
DECLARE
  c       jsonb;
  v_got   jsonb;
  v_error text;
  v_name  text;
  v_n     int := 0;
BEGIN
  FOR c IN SELECT jsonb_array_elements(current_setting('test.config_cases')::jsonb) LOOP
    v_n := v_n + 1;
    v_got := NULL;
    v_error := NULL;
    BEGIN
      v_got := pgtrickle.relay_normalize_config(c->>'direction', c->'config', 'p');
    EXCEPTION WHEN OTHERS THEN
      v_error := SQLERRM;
    END;
    IF c ? 'canonical' THEN
      PERFORM assert_eq(v_error, NULL::text, c->>'case' || ': accepted');
      PERFORM assert_eq(v_got, c->'canonical', c->>'case' || ': its canonical form');
    ELSE
      PERFORM assert_eq(v_error IS NOT NULL, true, c->>'case' || ': refused, not ' || coalesce(v_got::text, ''));
      FOR v_name IN SELECT jsonb_array_elements_text(c->'error_names') LOOP
        PERFORM assert_eq(strpos(v_error, v_name) > 0, true, format('%s: the error names %s; it says: %s', c->>'case', v_name, v_error));
      END LOOP;
    END IF;
  END LOOP;
  PERFORM assert_eq(v_n > 10, true, 'the cases were read');
END
$$;
