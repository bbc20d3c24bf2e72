-- The expression checker (pgtrickle._relay_expression_checked) on what fuzz/expression_fuzz.py
-- found: a text it took whose rewrite PostgreSQL reads as more than was checked.

CREATE SCHEMA ex;
CREATE TYPE ex.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE ex.plain AS ENUM ('a', 'b');
CREATE FUNCTION ex.text_of(ex.mood) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'x' $$;
CREATE CAST (ex.mood AS text) WITH FUNCTION ex.text_of(ex.mood) AS IMPLICIT;
CREATE TABLE ex.t (id int, status text, mood ex.mood, moods ex.mood[], plain ex.plain, plains ex.plain[],
                   "pg_sleep" float8, "unknown" int, "escape" text);

CREATE FUNCTION pg_temp.checked(p_text text, p_images text[] DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(x.expression, 'problem: ' || x.problem) FROM pgtrickle._relay_expression_checked(p_text, 'ex.t', p_images) AS x
$$;

-- A column before "(": PostgreSQL reads "pg_sleep"(1) as a call of pg_catalog.pg_sleep, and
-- new.pg_sleep(1) as a call of function pg_sleep of a schema "new"; the checker took both as the
-- column and wrote the call again unquoted.
SELECT assert_eq(pg_temp.checked('"pg_sleep"(1) IS NULL'),
                 'problem: column pg_sleep is followed by "(", which PostgreSQL reads as a call of a function of that name',
                 'a quoted column before ( is refused');
SELECT assert_eq(pg_temp.checked('new.pg_sleep (1) IS NULL', '{new}'),
                 'problem: column pg_sleep is followed by "(", which PostgreSQL reads as a call of a function of that name',
                 'an image''s column before ( is refused');
SELECT assert_eq(pg_temp.checked('"pg_sleep" > 1'), 'pg_sleep > 1', 'a column named as a function is still a column');

-- An enum with an implicit cast of its owner's: mood <> 'sad' compares text_of(mood) with 'sad'.
SELECT assert_eq(pg_temp.checked('mood <> ''sad'''), 'problem: column mood is of type ex.mood, whose values are read by code '
                 'of its own (a domain, composite or range, or an enum with a cast of a function): a condition reads columns of '
                 'built-in types, enums and arrays of those', 'an enum with a cast of a function is refused');
SELECT assert_eq(left(pg_temp.checked('''ok'' = ANY (moods)'), 38), 'problem: column moods is of type ex.mo',
                 'and arrays of it');
SELECT assert_eq(pg_temp.checked('plain <> ''a'' AND ''b'' = ANY (plains)'), 'plain <> ''a'' AND ''b'' = ANY ( plains )',
                 'an enum without casts is taken');

-- Only whitespace (a tab, a newline) is empty: it was taken as the empty expression, "WHERE ()".
SELECT assert_eq(pg_temp.checked(E'\t\n '), 'problem: it is empty', 'whitespace is empty');

DROP SCHEMA ex CASCADE;
