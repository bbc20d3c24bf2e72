-- ============================================================================================
-- Config spec tables
--
-- One row per backend and per key. The validator below is generic: everything it knows about a
-- backend comes from these rows, which are generated from the relay's own spec.
-- ============================================================================================

CREATE TABLE IF NOT EXISTS pgtrickle.relay_backends (
  role          text NOT NULL CHECK (role IN ('source', 'sink')),
  backend       text NOT NULL,
  type_aliases  text[] NOT NULL DEFAULT '{}',
  -- Prefixes of this backend's keys in the flat config form; empty means "<backend>_" with
  -- '-' written as '_'.
  flat_prefixes text[] NOT NULL DEFAULT '{}',
  description   text NOT NULL DEFAULT '',
  PRIMARY KEY (role, backend)
);

CREATE TABLE IF NOT EXISTS pgtrickle.relay_config_keys (
  role          text NOT NULL CHECK (role IN ('source', 'sink', 'pipeline')),
  backend       text NOT NULL,   -- '*' for pipeline options
  key           text NOT NULL,
  value_type    text NOT NULL,   -- checked below
  required      boolean NOT NULL DEFAULT false,
  one_of        text,            -- keys sharing a group name: exactly one of them must be given
  allowed       text[],          -- enum values
  aliases       text[] NOT NULL DEFAULT '{}',
  secret        boolean NOT NULL DEFAULT false,
  default_value jsonb,
  min_value     bigint,          -- the range of an integer key
  max_value     bigint,
  -- What the value becomes the name of, for others to see ('a table', 'a replication slot'):
  -- written as it is, never a reference. NULL for any other key.
  names_object  text,
  description   text NOT NULL DEFAULT '',
  PRIMARY KEY (role, backend, key),
  CHECK ((role = 'pipeline') = (backend = '*'))
);
-- Installs made before integer ranges existed.
ALTER TABLE pgtrickle.relay_config_keys ADD COLUMN IF NOT EXISTS min_value bigint, ADD COLUMN IF NOT EXISTS max_value bigint;
-- ... and before keys naming objects were marked.
ALTER TABLE pgtrickle.relay_config_keys ADD COLUMN IF NOT EXISTS names_object text;

-- Value types added since a table above was first created: its check says which are known.
ALTER TABLE pgtrickle.relay_config_keys DROP CONSTRAINT IF EXISTS relay_config_keys_value_type_check;
ALTER TABLE pgtrickle.relay_config_keys ADD CONSTRAINT relay_config_keys_value_type_check
  CHECK (value_type IN ('string', 'integer', 'number', 'boolean', 'object', 'array', 'string_list', 'enum', 'subject', 'slot_name'));
