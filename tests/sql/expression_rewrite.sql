-- The expression checker (pgtrickle._relay_expression_checked) on what fuzz/expression_fuzz.py
-- found: a text it took whose rewrite PostgreSQL reads as more than was checked, or that it does
-- not read back as itself.

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

-- What the checker writes, it reads back as itself: a column named as a keyword quoted (escape,
-- unknown), a string holding a backslash as quote_literal writes it, a call as pg_catalog.<name>.
SELECT assert_eq(pg_temp.checked('"unknown" = 1 AND "escape" LIKE ''a\_b'' AND lower(status) = ''x'''),
                 '"unknown" = 1 AND "escape" LIKE E''a\\_b'' AND pg_catalog.lower ( status ) = ''x''', 'the rewrite');
SELECT assert_eq(pg_temp.checked(pg_temp.checked('"unknown" = 1 AND "escape" LIKE ''a\_b'' AND lower(status) = ''x''')),
                 '"unknown" = 1 AND "escape" LIKE E''a\\_b'' AND pg_catalog.lower ( status ) = ''x''', 'the rewrite read again');
SELECT assert_eq(pg_temp.checked('status = E''\n'''), 'problem: a string follows a name or a value: typed literals (date ''...''), '
                 'prefixed strings (E''...'') and casts are not taken', 'E''...'' only as quote_literal writes it');
SELECT assert_eq(pg_temp.checked('pg_catalog.pg_sleep(1) IS NULL'), 'problem: pg_catalog.… is not taken: a column is named '
                 'alone, without its table or schema, and only the functions listed are called (lower, upper, length, '
                 'char_length, octet_length, abs, btrim, ltrim, rtrim, substr, left, right, starts_with, round, trunc, floor, '
                 'ceil, mod, jsonb_typeof, jsonb_array_length, array_length, cardinality)', 'pg_catalog.<name> only for those listed');
-- A text of up to 4000 characters whose rewrite is longer is refused (its rewrite would be).
SELECT assert_eq(pg_temp.checked(repeat('(', 1999) || 'id' || repeat(')', 1999)),
                 'problem: it is longer than 4000 characters as written again (a space between tokens, functions as pg_catalog.<name>)',
                 'a rewrite of more than 4000 characters');

-- A session with standard_conforming_strings off (backslashes in plain literals as escapes) from
-- its start, so the checker is first read in it: its own patterns keep their meaning, and a
-- condition is checked as in any session.
\connect
SET standard_conforming_strings = off;
SELECT assert_eq((SELECT coalesce(x.expression, 'problem: ' || x.problem)
                  FROM pgtrickle._relay_expression_checked('status <> ''draft'' AND id > 3', 'ex.t', NULL) AS x),
                 'status <> ''draft'' AND id > 3', 'a condition is taken in a session with standard_conforming_strings off');
RESET standard_conforming_strings;

DROP SCHEMA ex CASCADE;

