"""Reads a wetmr Parquet table with independent readers, for tests/formats.rs.

Usage: parquet_read.py pyarrow FILE   -> a JSON line describing the file, then its rows as
                                         word<TAB>tf<TAB>df lines, in stored order
       parquet_read.py duckdb FILE    -> the rows as DuckDB reads them, in stored order

The description holds what a test checks field by field: the Arrow schema (names, types,
nullability), the Parquet schema as text, every column chunk's codec and encodings, the
rows of each row group, and the key-value metadata keys.
"""

import json
import sys


def pyarrow_rows(path):
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    schema = f.schema_arrow
    md = f.metadata
    fields = []
    for field in schema:
        entry = {"name": field.name, "type": str(field.type), "nullable": field.nullable}
        if field.type.num_fields:
            entry["children"] = [
                {"name": c.name, "type": str(c.type), "nullable": c.nullable}
                for c in field.type
            ]
        fields.append(entry)
    groups = []
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        groups.append(
            {
                "rows": rg.num_rows,
                "columns": [
                    {
                        "path": rg.column(j).path_in_schema,
                        "codec": rg.column(j).compression,
                        "encodings": list(rg.column(j).encodings),
                    }
                    for j in range(rg.num_columns)
                ],
            }
        )
    meta = {k.decode(): v.decode() for k, v in (md.metadata or {}).items()}
    desc = {
        "fields": fields,
        "parquet_schema": "\n".join(str(f.schema).splitlines()[1:]),
        "row_groups": groups,
        "metadata_keys": sorted(meta),
        "spark_schema": json.loads(meta.get("org.apache.spark.sql.parquet.row.metadata", "null")),
        "rows": md.num_rows,
    }
    out = sys.stdout
    out.write(json.dumps(desc) + "\n")
    table = f.read()
    keys = table.column("key").to_pylist()
    vals = table.column("val").to_pylist()
    for k, v in zip(keys, vals):
        out.write(f"{k}\t{v['tf']}\t{v['df']}\n")


def duckdb_rows(path):
    import duckdb

    con = duckdb.connect()
    rows = con.execute(
        "SELECT key, val.tf, val.df FROM read_parquet(?, file_row_number = true) "
        "ORDER BY file_row_number",
        [path],
    ).fetchall()
    out = sys.stdout
    for k, tf, df in rows:
        out.write(f"{k}\t{tf}\t{df}\n")


if __name__ == "__main__":
    sys.stdout.reconfigure(encoding="utf-8", newline="\n")
    {"pyarrow": pyarrow_rows, "duckdb": duckdb_rows}[sys.argv[1]](sys.argv[2])
