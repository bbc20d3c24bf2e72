-- Everything the install defines, one line per fact: run.sh compares it before and after a
-- re-install, which must change nothing.
SELECT f FROM (
  SELECT format('schema %s acl=%s', nspname, nspacl) AS f FROM pg_namespace WHERE nspname = 'pgtrickle'
  UNION ALL
  SELECT format('role %s login=%s', rolname, rolcanlogin) FROM pg_roles WHERE rolname IN ('pgtrickle_relay', 'pgtrickle_relay_admin')
  UNION ALL
  SELECT format('function %s secdef=%s config=%s acl=%s body=%s', p.oid::regprocedure, p.prosecdef, p.proconfig,
                p.proacl, md5(pg_get_functiondef(p.oid)))
  FROM pg_proc AS p WHERE p.pronamespace = 'pgtrickle'::regnamespace AND p.prokind IN ('f', 'p')
  UNION ALL
  SELECT format('relation %s kind=%s acl=%s', c.relname, c.relkind, c.relacl)
  FROM pg_class AS c WHERE c.relnamespace = 'pgtrickle'::regnamespace
  UNION ALL
  SELECT format('column %s.%s %s notnull=%s default=%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
  FROM pg_attribute AS a
  JOIN pg_class AS c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE c.relnamespace = 'pgtrickle'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT format('trigger %s', pg_get_triggerdef(t.oid))
  FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
  WHERE c.relnamespace = 'pgtrickle'::regnamespace AND NOT t.tgisinternal
  UNION ALL
  SELECT format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
  FROM pg_constraint WHERE connamespace = 'pgtrickle'::regnamespace
  UNION ALL
  SELECT format('spec keys %s', md5(string_agg(k::text, ',' ORDER BY k::text))) FROM pgtrickle.relay_config_keys AS k
  UNION ALL
  SELECT format('spec backends %s', md5(string_agg(b::text, ',' ORDER BY b::text))) FROM pgtrickle.relay_backends AS b
) AS facts
ORDER BY f;
