-- The catalogue: firmwared's persistent state (firmwares, instances, snapshots, names and
-- custom properties), in sqlite3 so that it survives restarts.
--
-- Schema version 1, created by migration 0 -> 1 (firmwared/catalogue/catalogue.cc), which
-- runs this whole file inside the migration's transaction. Later versions are the
-- migrations after it in kMigrations, in the same file: 2 snapshots, 3 user namespaces and
-- clock offsets, 4 host_access, 5 stop signals, reboot policy, limits and exit reasons,
-- 6 instance_binds, 7 instance_labels. `sqlite3 catalogue.db .schema` shows the result. The file is embedded into the
-- daemon at build time and is the single source of truth. Once released, never edit it:
-- add a migration instead.
--
-- Conventions: sha1s are 40 lowercase hex digits; times are unix seconds; unsigned 64-bit
-- values (size, monitor_start_time) are stored as their int64 bit pattern; "" means none.

CREATE TABLE firmwares (
  sha1        TEXT    NOT NULL PRIMARY KEY
                      CHECK (length(sha1) = 40 AND sha1 NOT GLOB '*[^0-9a-f]*'),
  path        TEXT    NOT NULL,             -- the image in the repository, or the final dir
  source_path TEXT    NOT NULL DEFAULT '',  -- where it was imported from
  format      TEXT    NOT NULL,             -- dir, ext2, ext3, ext4, squashfs, erofs
  size        INTEGER NOT NULL DEFAULT 0,   -- bytes
  uuid        TEXT    NOT NULL DEFAULT '',  -- filesystem UUID
  created     INTEGER NOT NULL
);

CREATE TABLE instances (
  sha1               TEXT    NOT NULL PRIMARY KEY
                             CHECK (length(sha1) = 40 AND sha1 NOT GLOB '*[^0-9a-f]*'),
  id                 INTEGER NOT NULL UNIQUE CHECK (id BETWEEN 0 AND 254),
  firmware_sha1      TEXT    NOT NULL REFERENCES firmwares (sha1) ON DELETE RESTRICT,
  state              TEXT    NOT NULL DEFAULT 'ready',
  monitor_pid        INTEGER NOT NULL DEFAULT 0,
  monitor_start_time INTEGER NOT NULL DEFAULT 0,  -- /proc/<pid>/stat field 22
  init_pid           INTEGER NOT NULL DEFAULT 0,
  exit_status        INTEGER,                     -- NULL: PID 1 never exited
  created            INTEGER NOT NULL,
  interface          TEXT    NOT NULL,
  stolen_interface   TEXT    NOT NULL DEFAULT '',
  stolen_btusb       TEXT    NOT NULL DEFAULT ''
);

-- Deleting a firmware checks the foreign key above; without this index that is a full scan.
CREATE INDEX instances_by_firmware ON instances (firmware_sha1);

-- cmdline[] of an instance, one row per element (idx 0 is the program).
CREATE TABLE instance_cmdline (
  sha1  TEXT    NOT NULL REFERENCES instances (sha1) ON DELETE CASCADE,
  idx   INTEGER NOT NULL CHECK (idx >= 0),
  value TEXT    NOT NULL,
  PRIMARY KEY (sha1, idx)
) WITHOUT ROWID;

-- Friendly names, unique in their folder; an entity has at most one.
CREATE TABLE names (
  folder TEXT NOT NULL,
  name   TEXT NOT NULL CHECK (name <> ''),
  sha1   TEXT NOT NULL,
  PRIMARY KEY (folder, name),
  UNIQUE (folder, sha1)
) WITHOUT ROWID;

-- ADD_PROPERTY: custom properties of a folder, listed by position (the order added).
CREATE TABLE custom_properties (
  folder   TEXT    NOT NULL,
  name     TEXT    NOT NULL CHECK (name <> ''),
  is_array INTEGER NOT NULL CHECK (is_array IN (0, 1)),
  position INTEGER NOT NULL,
  PRIMARY KEY (folder, name),
  UNIQUE (folder, position)
) WITHOUT ROWID;

-- Values of custom properties: a scalar has one row (idx 0), an array one row per element.
CREATE TABLE property_values (
  folder TEXT    NOT NULL,
  sha1   TEXT    NOT NULL,
  name   TEXT    NOT NULL,
  idx    INTEGER NOT NULL CHECK (idx >= 0),
  value  TEXT    NOT NULL,
  PRIMARY KEY (folder, sha1, name, idx),
  FOREIGN KEY (folder, name) REFERENCES custom_properties (folder, name) ON DELETE CASCADE
) WITHOUT ROWID;

-- Deleting an entity forgets its name and its custom values, in the same transaction.
CREATE TRIGGER firmwares_forget AFTER DELETE ON firmwares BEGIN
  DELETE FROM names WHERE folder = 'firmwares' AND sha1 = OLD.sha1;
  DELETE FROM property_values WHERE folder = 'firmwares' AND sha1 = OLD.sha1;
END;

CREATE TRIGGER instances_forget AFTER DELETE ON instances BEGIN
  DELETE FROM names WHERE folder = 'instances' AND sha1 = OLD.sha1;
  DELETE FROM property_values WHERE folder = 'instances' AND sha1 = OLD.sha1;
END;
