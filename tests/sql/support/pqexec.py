#!/usr/bin/env python3
"""Send a whole SQL file to PostgreSQL as ONE query string through libpq's PQexec.

psql splits a file into statements on the client; the relay's `install` sends the file in
one PQexec call, so the install must also work that way (no psql meta-commands).
Usage: pqexec.py <conninfo> <file.sql>
"""
import ctypes
import ctypes.util
import sys

PGRES_COMMAND_OK, PGRES_TUPLES_OK = 1, 2
CONNECTION_OK = 0


def main() -> int:
    conninfo, path = sys.argv[1], sys.argv[2]
    libpq = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
    libpq.PQconnectdb.restype = ctypes.c_void_p
    libpq.PQconnectdb.argtypes = [ctypes.c_char_p]
    libpq.PQstatus.argtypes = [ctypes.c_void_p]
    libpq.PQerrorMessage.restype = ctypes.c_char_p
    libpq.PQerrorMessage.argtypes = [ctypes.c_void_p]
    libpq.PQexec.restype = ctypes.c_void_p
    libpq.PQexec.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    libpq.PQresultStatus.argtypes = [ctypes.c_void_p]
    libpq.PQresultErrorMessage.restype = ctypes.c_char_p
    libpq.PQresultErrorMessage.argtypes = [ctypes.c_void_p]
    libpq.PQclear.argtypes = [ctypes.c_void_p]
    libpq.PQfinish.argtypes = [ctypes.c_void_p]

    conn = libpq.PQconnectdb(conninfo.encode())
    if libpq.PQstatus(conn) != CONNECTION_OK:
        sys.stderr.write(libpq.PQerrorMessage(conn).decode(errors="replace"))
        return 1
    with open(path, "rb") as f:
        sql = f.read()
    res = libpq.PQexec(conn, sql)
    status = libpq.PQresultStatus(res)
    ok = status in (PGRES_COMMAND_OK, PGRES_TUPLES_OK)
    if not ok:
        sys.stderr.write(libpq.PQresultErrorMessage(res).decode(errors="replace"))
    libpq.PQclear(res)
    libpq.PQfinish(conn)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
