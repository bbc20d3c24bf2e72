-- Helpers for the SQL tests; run.sh loads this before each test file.

-- Runs p_sql and fails unless it raises an error whose message contains p_fragment (and,
-- when given, has SQLSTATE p_sqlstate).
CREATE FUNCTION public.expect_error(p_sql text, p_fragment text, p_sqlstate text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_message text;
  v_state   text;
BEGIN
  BEGIN
    EXECUTE p_sql;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_state = RETURNED_SQLSTATE;
    IF strpos(v_message, p_fragment) = 0 THEN
      RAISE EXCEPTION E'wrong error from: %\n  expected a message containing: %\n  got: % (%)', p_sql, p_fragment, v_message, v_state;
    END IF;
    IF p_sqlstate IS NOT NULL AND v_state <> p_sqlstate THEN
      RAISE EXCEPTION E'wrong SQLSTATE from: %\n  expected %, got % (%)', p_sql, p_sqlstate, v_state, v_message;
    END IF;
    RETURN;
  END;
  RAISE EXCEPTION E'no error from: %\n  expected one containing: %', p_sql, p_fragment;
END
$$;

-- Fails with both values shown unless they are equal.
CREATE FUNCTION public.assert_eq(p_actual anyelement, p_expected anyelement, p_what text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  IF p_actual IS DISTINCT FROM p_expected THEN
    RAISE EXCEPTION E'%\n  expected: %\n  got:      %', p_what, p_expected, p_actual;
  END IF;
END
$$;

-- The connection string of a login of this test's database (for dblink_connect): attacks are run
-- on real connections of the role they are made as.
CREATE FUNCTION public.login_conninfo(p_role text)
RETURNS text
LANGUAGE sql
AS $$
  SELECT format('dbname=%s user=%s', current_database(), p_role)
         || coalesce(' host=' || nullif(current_setting('unix_socket_directories'), ''), '')
         || ' port=' || current_setting('port')
$$;
