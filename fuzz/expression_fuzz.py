#!/usr/bin/env python3
"""The SQL install's expression checker on hostile text, against a real PostgreSQL server.

pgtrickle._relay_expression_checked (sql/install/02_install_helpers.sql) reads a user's row filter
or trigger condition token by token and writes it again from its tokens, so that what the
installer's statements parse is only what was checked. libFuzzer cannot run PL/pgSQL: this script
mutates the seeds of fuzz/corpus/expression/ (the suite's filters and conditions, and the grammar's
corners) for a bounded time and checks, for each text:
  (a) the checker never raises: an error escaping it, or a call taking longer than 5 s, is a finding;
      it returns either an expression or a problem, never both or neither;
  (b) an expression it returns is taken again and written again as itself;
  (c) parsed as PostgreSQL parses the installer's statement (search_path pg_catalog, pg_temp; here
      as a temporary view's WHERE over the table, with the images as its aliases), the expression
      depends on no function outside the checker's list (or the built-in ones of its operators and
      casts, and those PostgreSQL adds for LIKE ... ESCAPE and SIMILAR TO), on no operator, type or collation that is
      not built in (but the table and its columns' types), and means what the text meant: where
      the text itself parses, both give the same tree (pg_get_viewdef). The scratch database
      holds traps a rewrite must not reach: an implicit cast of the user's, a domain whose CHECK
      raises, functions and operators named as the listed ones in other schemas.
Each input file holds the images (empty: a publication's row filter, columns bare; "new,old": a
trigger's WHEN), the byte 0x1e, then the text. The install is sql/install/files.cmake's files,
joined, applied to a scratch database that is dropped after.

Usage: expression_fuzz.py [--seconds N] [--seed N] [--corpus DIR] [--findings DIR] [--url URL]
(the URL defaults to PGTRICKLE_TEST_POSTGRES_URL: a superuser's maintenance connection).
"""
import argparse
import ctypes
import ctypes.util
import os
import random
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGRES_COMMAND_OK, PGRES_TUPLES_OK = 1, 2
CONNECTION_OK = 0
PG_DIAG_SQLSTATE = ord("C")

# The checker's lists (02_install_helpers.sql), to write texts with.
KEYWORDS = ["AND", "OR", "NOT", "IS", "NULL", "TRUE", "FALSE", "UNKNOWN", "IN", "BETWEEN", "SYMMETRIC", "LIKE", "ILIKE",
            "SIMILAR", "TO", "ESCAPE", "DISTINCT", "FROM", "ISNULL", "NOTNULL", "CASE", "WHEN", "THEN", "ELSE", "END",
            "ANY", "ALL", "SOME", "ARRAY", "COALESCE", "NULLIF", "GREATEST", "LEAST"]
FUNCTIONS = ["lower", "upper", "length", "char_length", "octet_length", "abs", "btrim", "ltrim", "rtrim", "substr", "left",
             "right", "starts_with", "round", "trunc", "floor", "ceil", "mod", "jsonb_typeof", "jsonb_array_length",
             "array_length", "cardinality"]
OPERATORS = ["=", "<>", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "^", "||", "~", "~*", "!~", "!~*", "~~", "~~*",
             "!~~", "!~~*", "@>", "<@", "&&", "->", "->>", "#>", "#>>", "?", "?|", "?&"]
COLUMNS = ["id", "amount", "status", "note", "code", "flag", "payload", "doc", "tags", "ids", "mood", "moods", '"Mixed Case"',
           '"unknown"', "unknown", '"escape"', "escape", '"end"', '"new"', "new", "é", '"é"', '"a""b"', "dcol", "pair", "r",
           "ts", "d", "big", "f", "b", "ip", "u", "ID", "Status", '"pg_sleep"', "pg_sleep", '"version"', '"lower"', "pg_catalog"]
# What else a text may hold: the grammar's edges and what it must refuse.
FRAGMENTS = ["(", ")", "[", "]", ",", ".", "'", "''", "'x'", "'a''b'", "'\\'", "'\\\\'", "'%'", "''''", '"', '""', "$$", "$a$",
             "$1", ":", "::", "::text", "::fz.mood", "::regclass", ";", "--", "/*", "*/", "/* c */", "-- c\n", "U&'\\0061'",
             "U&\"\\0061\"", "E'\\''", "e'\\\\'", "B'01'", "X'ff'", "N'x'", "\\", "`", "@", "#", "&", "|", "!", "?", "~",
             "1", "0", "-1", ".5", "1.", "1e5", "1e", "1.e-3", "0x1F", "1_000", "00", "9" * 30, "fz.trap()", "fz.", "pg_catalog.",
             "public.", "pg_temp.", "SELECT", "select 1", "ROW", "COLLATE", '"C"', "OPERATOR(pg_catalog.=)", "text",
             "date '2024-01-01'", "interval", "AT TIME ZONE", "'utc'", "new.", "old.", "NEW.", "OLD.", " ", "\t", "\n",
             "\r", "\f", "\v", "\u00a0", "\u2028", "\u3000", "\ufeff", "\u0130", "\u212a", "\uff08", "é", "😀", "\x01",
             "\x7f", "%s", "%I", "%L"]
ALLOWED_BY_PARSER = ["like_escape", "similar_to_escape", "similar_escape"]  # what LIKE ... ESCAPE and SIMILAR TO become

FIXTURE = r"""
CREATE SCHEMA fz;
CREATE TYPE fz.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE fz.pair AS (a int, b text);
-- User code a parse must never reach: each raises.
CREATE FUNCTION fz.trap() RETURNS boolean LANGUAGE plpgsql IMMUTABLE
AS $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'FZTRP', MESSAGE = 'user code ran'; END $$;
CREATE DOMAIN fz.d AS int CHECK (VALUE > 0 AND fz.trap());
CREATE FUNCTION fz.mood_of(text) RETURNS fz.mood LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM fz.trap(); RETURN 'ok'; END $$;
CREATE FUNCTION fz.text_of(fz.mood) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM fz.trap(); RETURN 'ok'; END $$;
CREATE FUNCTION fz.mood_of_int(int) RETURNS fz.mood LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM fz.trap(); RETURN 'ok'; END $$;
CREATE CAST (text AS fz.mood) WITH FUNCTION fz.mood_of(text) AS IMPLICIT;
CREATE CAST (fz.mood AS text) WITH FUNCTION fz.text_of(fz.mood) AS IMPLICIT;
CREATE CAST (int AS fz.mood) WITH FUNCTION fz.mood_of_int(int) AS IMPLICIT;
CREATE FUNCTION fz.lower(fz.mood) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM fz.trap(); RETURN 'ok'; END $$;
CREATE FUNCTION fz.eq(fz.mood, text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN fz.trap(); END $$;
CREATE OPERATOR fz.= (LEFTARG = fz.mood, RIGHTARG = text, FUNCTION = fz.eq);
CREATE OPERATOR public.= (LEFTARG = fz.mood, RIGHTARG = text, FUNCTION = fz.eq);
CREATE FUNCTION public.lower(fz.mood) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN PERFORM fz.trap(); RETURN 'ok'; END $$;
CREATE TABLE fz.t (id int PRIMARY KEY, amount numeric(10,2), status text, note varchar(20), code char(3), flag boolean,
  payload jsonb, doc json, tags text[], ids int[], mood fz.mood, moods fz.mood[], "Mixed Case" int, "unknown" int,
  "escape" text, "end" int, "new" int, "é" int, "a""b" int, dcol fz.d, pair fz.pair, r int4range, ts timestamptz, d date,
  big bigint, f float8, b bytea, ip inet, u uuid, "pg_sleep" float8, "version" text, "pg_catalog" int, "lower" text);

-- p_expr parsed as the installer's statement would parse it: a view's WHERE over the table (the
-- images its aliases), search_path pg_catalog, pg_temp; rolled back. 'ok:' and the view's
-- definition, 'bad:' and the objects outside the allowed ones it depends on, or 'error:' and
-- PostgreSQL's error.
CREATE FUNCTION fz.parsed(p_expr text, p_images text[], p_functions text[], p_operators text[]) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  v_result text;
  v_bad    text;
BEGIN
  BEGIN
    PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
    EXECUTE format('CREATE TEMP VIEW fz_v AS SELECT 1 AS one FROM %s WHERE %s',
                   coalesce((SELECT string_agg(format('fz.t AS %I', i), ', ') FROM unnest(p_images) AS i), 'fz.t'), p_expr);
    SELECT string_agg(pg_catalog.pg_describe_object(d.refclassid, d.refobjid, 0), '; ') INTO v_bad
    FROM pg_catalog.pg_depend AS d JOIN pg_catalog.pg_rewrite AS w ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
    WHERE w.ev_class = 'pg_temp.fz_v'::regclass
      AND NOT CASE d.refclassid
        WHEN 'pg_catalog.pg_class'::regclass THEN d.refobjid IN ('fz.t'::regclass, 'pg_temp.fz_v'::regclass)
        WHEN 'pg_catalog.pg_proc'::regclass THEN d.refobjid < 16384 AND
          ((SELECT p.proname::text = ANY (p_functions) FROM pg_catalog.pg_proc AS p WHERE p.oid = d.refobjid)
           OR d.refobjid IN (SELECT c.castfunc FROM pg_catalog.pg_cast AS c)
           OR d.refobjid IN (SELECT o.oprcode::oid FROM pg_catalog.pg_operator AS o WHERE o.oprname = ANY (p_operators)))
        WHEN 'pg_catalog.pg_operator'::regclass THEN d.refobjid < 16384
        WHEN 'pg_catalog.pg_collation'::regclass THEN d.refobjid < 16384
        WHEN 'pg_catalog.pg_type'::regclass THEN d.refobjid < 16384 OR d.refobjid IN
          (SELECT x FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid,
                         LATERAL (VALUES (t.oid), (t.typelem)) AS v(x)
           WHERE a.attrelid = 'fz.t'::regclass AND a.attnum > 0)
        ELSE false END;
    v_result := CASE WHEN v_bad IS NULL THEN 'ok:' || pg_catalog.pg_get_viewdef('pg_temp.fz_v'::regclass) ELSE 'bad:' || v_bad END;
    RAISE EXCEPTION USING ERRCODE = 'FZ000';
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE <> 'FZ000' THEN
      v_result := 'error:' || SQLSTATE || ':' || SQLERRM;
    END IF;
  END;
  RETURN v_result;
END
$f$;

-- The findings for one text (NULL: none; 'refused' when the checker refused it, 'accepted' when
-- it took it and nothing was found).
CREATE FUNCTION fz.check(p_text text, p_images text[], p_functions text[], p_operators text[]) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  r        record;
  r2       record;
  v_parsed text;
  v_text   text;
BEGIN
  BEGIN
    SELECT x.expression, x.problem INTO r FROM pgtrickle._relay_expression_checked(p_text, 'fz.t'::regclass, p_images) AS x;
  EXCEPTION WHEN OTHERS THEN
    RETURN format('finding [raised %s]: the checker raised %s: %s', SQLSTATE, SQLSTATE, SQLERRM);
  END;
  IF (r.expression IS NULL) = (r.problem IS NULL) THEN
    RETURN format('finding [both or neither]: the checker returned expression %L and problem %L', r.expression, r.problem);
  END IF;
  IF r.problem IS NOT NULL THEN
    RETURN 'refused';
  END IF;
  BEGIN
    SELECT x.expression, x.problem INTO r2 FROM pgtrickle._relay_expression_checked(r.expression, 'fz.t'::regclass, p_images) AS x;
  EXCEPTION WHEN OTHERS THEN
    RETURN format('finding [rewrite raised %s]: checking the rewrite %s raised %s: %s', SQLSTATE, r.expression, SQLSTATE, SQLERRM);
  END;
  IF r2.problem IS NOT NULL THEN
    RETURN format('finding [rewrite refused: %s]: the rewrite %s is refused: %s', left(regexp_replace(r2.problem, '^\S+ ', ''), 30), r.expression, r2.problem);
  END IF;
  IF r2.expression IS DISTINCT FROM r.expression THEN
    RETURN format('finding [rewritten again]: the rewrite %s is written again as %s', r.expression, r2.expression);
  END IF;
  v_parsed := fz.parsed(r.expression, p_images, p_functions, p_operators);
  IF v_parsed LIKE 'bad:%' THEN
    RETURN format('finding [depends: %s]: the rewrite %s depends on %s', substr(v_parsed, 5, 40), r.expression, substr(v_parsed, 5));
  END IF;
  IF v_parsed LIKE 'error:FZTRP%' OR (v_parsed LIKE 'error:%' AND v_parsed !~ '^error:(42|22|54|0A)') THEN
    RETURN format('finding [parse failed %s]: parsing the rewrite %s failed: %s', substr(v_parsed, 7, 5), r.expression, substr(v_parsed, 7));
  END IF;
  -- What the text meant, where PostgreSQL parses the text itself.
  IF v_parsed LIKE 'ok:%' THEN
    v_text := fz.parsed(p_text, p_images, p_functions, p_operators);
    IF v_text LIKE 'ok:%' AND v_text <> v_parsed THEN
      RETURN format('finding [means another thing]: the rewrite %s parses as %s, the text as %s', r.expression, substr(v_parsed, 4), substr(v_text, 4));
    END IF;
  END IF;
  RETURN 'accepted';
END
$f$;
"""


class Pq:
    """The few libpq calls this needs, through ctypes (as tests/sql/support/pqexec.py)."""

    def __init__(self):
        lib = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
        self.lib = lib
        lib.PQconnectdbParams.restype = ctypes.c_void_p
        lib.PQconnectdbParams.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
        lib.PQstatus.argtypes = [ctypes.c_void_p]
        lib.PQerrorMessage.restype = ctypes.c_char_p
        lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
        lib.PQexec.restype = ctypes.c_void_p
        lib.PQexec.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.PQexecParams.restype = ctypes.c_void_p
        lib.PQexecParams.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p,
                                     ctypes.POINTER(ctypes.c_char_p), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.PQresultStatus.argtypes = [ctypes.c_void_p]
        lib.PQresultErrorMessage.restype = ctypes.c_char_p
        lib.PQresultErrorMessage.argtypes = [ctypes.c_void_p]
        lib.PQresultErrorField.restype = ctypes.c_char_p
        lib.PQresultErrorField.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.PQntuples.argtypes = [ctypes.c_void_p]
        lib.PQgetisnull.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.PQgetvalue.restype = ctypes.c_char_p
        lib.PQgetvalue.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.PQclear.argtypes = [ctypes.c_void_p]
        lib.PQfinish.argtypes = [ctypes.c_void_p]

    def connect(self, url, dbname=None):
        keys = [b"dbname"] + ([b"dbname"] if dbname else []) + [None]
        values = [url.encode()] + ([dbname.encode()] if dbname else []) + [None]
        conn = self.lib.PQconnectdbParams((ctypes.c_char_p * len(keys))(*keys), (ctypes.c_char_p * len(values))(*values), 1)
        if self.lib.PQstatus(conn) != CONNECTION_OK:
            raise RuntimeError(self.lib.PQerrorMessage(conn).decode(errors="replace"))
        return conn

    def run(self, conn, sql, params=None):
        """The first column of the rows, or raises RuntimeError(sqlstate, message)."""
        if params is None:
            res = self.lib.PQexec(conn, sql.encode())
        else:
            values = [None if p is None else p.encode() for p in params]
            res = self.lib.PQexecParams(conn, sql.encode(), len(values), None, (ctypes.c_char_p * len(values))(*values),
                                        None, None, 0)
        try:
            if self.lib.PQresultStatus(res) not in (PGRES_COMMAND_OK, PGRES_TUPLES_OK):
                state = self.lib.PQresultErrorField(res, PG_DIAG_SQLSTATE)
                raise RuntimeError((state or b"").decode(), self.lib.PQresultErrorMessage(res).decode(errors="replace").strip())
            return [None if self.lib.PQgetisnull(res, i, 0) else self.lib.PQgetvalue(res, i, 0).decode()
                    for i in range(self.lib.PQntuples(res))]
        finally:
            self.lib.PQclear(res)


def install_sql():
    with open(os.path.join(ROOT, "sql/install/files.cmake")) as f:
        files = re.findall(r"^\s*(sql/install/\S+\.sql)\s*$", f.read(), re.M)
    return "".join(open(os.path.join(ROOT, p), encoding="utf-8").read() + "\n" for p in files)


def read_corpus(directory):
    seeds = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            images, _, text = f.read().partition("\x1e")
        seeds.append((images, text))
    return seeds


TOKEN = re.compile(r"""\s+|'(?:[^']|'')*'?|"(?:[^"]|"")*"?|[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[-+*/<>=~!@#%^&|`?]+|.""",
                   re.S)


def tokens(text):
    return TOKEN.findall(text) or [""]


def mutate(rng, text, pool):
    """One to four edits of `text`, token by token or byte by byte."""
    for _ in range(rng.randint(1, 4)):
        t = tokens(text)
        i = rng.randrange(len(t))
        pick = rng.random()
        new = rng.choice([rng.choice(FRAGMENTS), rng.choice(KEYWORDS), rng.choice(OPERATORS), rng.choice(FUNCTIONS) + "(",
                          rng.choice(COLUMNS), " "])
        if pick < 0.2:
            t.insert(i, new)
        elif pick < 0.3:
            t[i] = new
        elif pick < 0.4 and len(t) > 1:
            del t[i:i + rng.randint(1, 3)]
        elif pick < 0.5:
            j = rng.randrange(len(t))
            t[i], t[j] = t[j], t[i]
        elif pick < 0.55:
            t = [w for w in t if not w.isspace()] if rng.random() < 0.5 else [w + " " for w in t]  # spaces gone, or added
        elif pick < 0.6:
            j = rng.randint(i, len(t))
            depth = rng.choice([1, 2, 50, 1000])
            t = t[:i] + ["("] * depth + t[i:j] + [")"] * depth + t[j:]
        elif pick < 0.65:
            w = t[i]  # a quote inside a string or name, doubled or not
            if len(w) >= 2 and w[0] in "'\"":
                k = rng.randrange(1, len(w))
                t[i] = w[:k] + rng.choice(["'", "''", '"', '""', "\\", "\\'", "$"]) + w[k:]
        elif pick < 0.7:
            j = rng.randint(i, len(t))
            t = t[:j] + t[i:j] + t[j:]  # a span again
        elif pick < 0.75:
            other = tokens(rng.choice(pool)[1])
            k = rng.randrange(len(other))
            t = t[:i] + other[k:k + rng.randint(1, 8)] + t[i:]  # a piece of another text
        elif pick < 0.8:
            t = [w.upper() if rng.random() < 0.5 else w.lower() for w in t]
        elif pick < 0.85:
            # Near the 4000-character limit, or far beyond it.
            unit = "".join(t) or "id > 0"
            target = rng.choice([3990, 3999, 4000, 4001, 4010, 20000])
            repeated = unit
            while len(repeated) < target:
                repeated += " AND " + unit
            t = [repeated[:target] if rng.random() < 0.5 else repeated]
        else:
            s = "".join(t)  # a byte-level edit
            k = rng.randint(0, len(s))
            t = [s[:k] + chr(rng.choice([rng.randint(1, 127), rng.randint(128, 0x2fff)])) + s[k + rng.randint(0, 1):]]
        text = "".join(t)
    return text.replace("\x00", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "fuzz/corpus/expression"))
    ap.add_argument("--findings", default=os.path.join(ROOT, "build-fuzz/findings"))
    ap.add_argument("--url", default=os.environ.get("PGTRICKLE_TEST_POSTGRES_URL"))
    ap.add_argument("--keep-going", action="store_true", help="report each kind of finding once and go on")
    args = ap.parse_args()
    if not args.url:
        print("expression_fuzz.py: no server (set PGTRICKLE_TEST_POSTGRES_URL or --url)", file=sys.stderr)
        return 2
    sys.stdout.reconfigure(line_buffering=True)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    print(f"INFO: Seed: {seed}")
    seeds = read_corpus(args.corpus)
    os.makedirs(args.findings, exist_ok=True)

    pq = Pq()
    maint = pq.connect(args.url)
    pq.run(maint, "SET client_min_messages = warning")
    db = f"pgtrickle_fuzz_expression_{os.getpid()}"
    pq.run(maint, f'DROP DATABASE IF EXISTS "{db}"')
    pq.run(maint, f'CREATE DATABASE "{db}"')
    conn = None
    try:
        conn = pq.connect(args.url, db)
        pq.run(conn, "SET client_min_messages = warning")
        pq.run(conn, install_sql())
        pq.run(conn, FIXTURE)
        pq.run(conn, "SET statement_timeout = '5s'")
        functions = "{" + ",".join(FUNCTIONS + ALLOWED_BY_PARSER) + "}"
        operators = "{" + ",".join('"' + o + '"' for o in OPERATORS) + "}"
        pool = list(seeds)  # texts to mutate: the seeds, then texts the checker took
        runs = accepted = 0
        kinds = set()
        start = time.monotonic()
        queue = list(seeds)  # each seed once as it is, then mutations
        while time.monotonic() - start < args.seconds:
            if queue:
                images, text = queue.pop(0)
            else:
                images, base = rng.choice(pool)
                if rng.random() < 0.1:
                    images = rng.choice(["", "new", "old", "new,old"])
                text = mutate(rng, base, pool)
            try:
                result = pq.run(conn, "SELECT fz.check($1, $2::text[], $3::text[], $4::text[])",
                                [text, "{" + images + "}" if images else None, functions, operators])[0]
            except RuntimeError as e:
                state, message = e.args if len(e.args) == 2 else ("", str(e))
                result = f"finding [check failed {state}]: the check failed ({state}): {message}"
            runs += 1
            if result == "accepted":
                accepted += 1
                if len(pool) < 2000 and len(text) <= 4000:
                    pool.append((images, text))
            elif result != "refused":
                kind = result.partition("]")[0]
                if args.keep_going and kind in kinds:
                    continue
                kinds.add(kind)
                path = os.path.join(args.findings, f"expression-{seed}-{runs}")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(images + "\x1e" + text)
                print(f"property violated: {result}")
                print(f"  images: {images!r}")
                print(f"  text: {text!r}")
                print(f"  input kept: {path} (reproduce: fuzz/expression_fuzz.py --corpus <a folder holding it>)")
                if not args.keep_going:
                    return 1
        elapsed = time.monotonic() - start
        print(f"stat::number_of_executed_units: {runs}")
        print(f"stat::accepted_units: {accepted}")
        print(f"Done {runs} runs in {int(elapsed)} second(s)")
        return 1 if kinds else 0
    finally:
        if conn:
            pq.lib.PQfinish(conn)
        pq.run(maint, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        pq.lib.PQfinish(maint)


if __name__ == "__main__":
    sys.exit(main())
