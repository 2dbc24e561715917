-- Layout `partitioned` (BEVAN_DB_LAYOUT=partitioned, docs/distribution.md): the personal tables that
-- grow with the record — source_identity, resource, resource_history — hash-partitioned by their
-- distribution key, shard_key (migration 0029), in 8 partitions, as Citus would shard them. Runs
-- after the ordinary migrations, so it converts the tables they made, indexes and triggers
-- included, with any rows they hold.
--
-- A partitioned table's unique indexes must hold the partition key, so each primary key gains
-- shard_key as its LAST column: a look-up by the old key is still a prefix probe of it in every
-- partition. Writers name the primary key by constraint (ON CONFLICT ON CONSTRAINT x_pkey), which
-- works in both layouts. No other unique index exists on these tables; a later migration must not
-- add one without shard_key.

CREATE OR REPLACE FUNCTION bevan_partition_by_shard_key(tbl text, pk text, parts integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  rel regclass := to_regclass(tbl);
  old text := tbl || '_unpartitioned';
  idx text[];
  trg text[];
  d text;
  i integer;
BEGIN
  IF rel IS NULL OR (SELECT relkind FROM pg_class WHERE oid = rel) = 'p' THEN
    RETURN;
  END IF;
  -- Secondary indexes and triggers as the ordinary migrations left them, re-created on the new table.
  SELECT coalesce(array_agg(pg_get_indexdef(x.indexrelid) ORDER BY x.indexrelid), '{}') INTO idx
    FROM pg_index x WHERE x.indrelid = rel AND NOT x.indisprimary;
  SELECT coalesce(array_agg(pg_get_triggerdef(t.oid) ORDER BY t.oid), '{}') INTO trg
    FROM pg_trigger t WHERE t.tgrelid = rel AND NOT t.tgisinternal;
  EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, old);
  EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', old, tbl || '_pkey', old || '_pkey');
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING STORAGE) PARTITION BY HASH (shard_key)', tbl, old);
  EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (%s)', tbl, tbl || '_pkey', pk);
  FOR i IN 0 .. parts - 1 LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS %s, REMAINDER %s)', tbl || '_p' || i, tbl, parts, i);
  END LOOP;
  EXECUTE format('INSERT INTO %I SELECT * FROM %I', tbl, old);
  EXECUTE format('DROP TABLE %I', old);
  FOREACH d IN ARRAY idx LOOP
    EXECUTE d;
  END LOOP;
  FOREACH d IN ARRAY trg LOOP
    EXECUTE d;
  END LOOP;
END $$;

SELECT bevan_partition_by_shard_key('source_identity', 'source_system, source_id, shard_key', 8);
SELECT bevan_partition_by_shard_key('resource', 'source_system, resource_type, source_id, shard_key', 8);
SELECT bevan_partition_by_shard_key('resource_history', 'source_system, resource_type, source_id, version, shard_key', 8);

DROP FUNCTION bevan_partition_by_shard_key(text, text, integer);
