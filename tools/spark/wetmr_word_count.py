"""Word count over Common Crawl WET files on Spark, with wetmr doing the counting.

The job has the shape and the command line of cc-pyspark's word_count.py: an input manifest
(one WET path or URL per line, relative ones joined to --input_base_url), an output table
with the schema key: string, val: struct<tf: long, df: long>, written with --output_format
and --output_compression. Each input partition is piped through `wetmr map` (the wetmr
binary shipped with --files, or on the executors' PATH), which counts its files on the
executor's cores; Spark adds the counts up by key and writes the table. Spark brings the
cluster (YARN, EMR, Kubernetes, local[*]), task retries and speculation; wetmr brings the
speed and the exact tokenizers.

    spark-submit --master local[2] tools/spark/wetmr_word_count.py \\
        --num_input_partitions 4 --num_output_partitions 2 wet.paths counts

    spark-submit --master yarn --files /usr/local/bin/wetmr \\
        tools/spark/wetmr_word_count.py \\
        --input_base_url s3://commoncrawl/ wet.paths word_count
"""

import argparse
import os
import shlex

from pyspark import SparkFiles
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

# The table's schema: cc-pyspark's word_count.py output_schema.
OUTPUT_SCHEMA = StructType(
    [
        StructField("key", StringType(), True),
        StructField(
            "val",
            StructType(
                [
                    StructField("tf", LongType(), True),
                    StructField("df", LongType(), True),
                ]
            ),
            True,
        ),
    ]
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Word count (term and document frequency) of WET files, counted by wetmr"
    )
    parser.add_argument("input", help="manifest: one WET file path or URL per line")
    parser.add_argument("output", help="name of the output table")
    parser.add_argument(
        "--input_base_url",
        default=None,
        help="prefix for relative paths in the manifest, e.g. https://data.commoncrawl.org/ "
        "or s3://commoncrawl/",
    )
    parser.add_argument(
        "--num_input_partitions",
        type=int,
        default=400,
        help="partitions of the manifest: tasks that each run one `wetmr map`",
    )
    parser.add_argument(
        "--num_output_partitions",
        type=int,
        default=10,
        help="partitions of the output table (files written)",
    )
    parser.add_argument(
        "--output_format", default="parquet", help="parquet (default), orc, json or csv"
    )
    parser.add_argument(
        "--output_compression",
        default="gzip",
        help="compression of the output files (gzip, zstd, snappy, none)",
    )
    parser.add_argument(
        "--output_option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="further options of the table writer",
    )
    parser.add_argument(
        "--tokenizer",
        default="cc-pyspark",
        help="wetmr's tokenizer: cc-pyspark (default: word_count.py's words), word or uax29",
    )
    parser.add_argument(
        "--content_type",
        default="text/plain",
        help="count only conversion records of this Content-Type, as word_count.py does "
        "(default text/plain; an empty value counts every conversion record)",
    )
    parser.add_argument(
        "--wetmr",
        default=None,
        help="the wetmr binary on the executors [default: the file shipped with "
        "--files, else `wetmr` on the PATH]",
    )
    parser.add_argument(
        "--wetmr_threads",
        type=int,
        default=None,
        help="threads of each `wetmr map` [default: the executor's cores]",
    )
    return parser.parse_args(argv)


def manifest_entry(line, base):
    """A manifest line as an input of `wetmr map`, or None for blanks and comments."""
    entry = line.strip()
    if not entry or entry.startswith("#"):
        return None
    if base and "://" not in entry and not entry.startswith("/"):
        entry = base.rstrip("/") + "/" + entry
    return entry


def map_command(args):
    """The command each task pipes its share of the manifest through."""

    def binary():
        if args.wetmr:
            return args.wetmr
        shipped = SparkFiles.get("wetmr")
        return shipped if os.path.exists(shipped) else "wetmr"

    command = [binary(), "map", "--quiet", "--tokenizer", args.tokenizer, "--progress", "0"]
    if args.content_type:
        command += ["--content-type", args.content_type]
    if args.wetmr_threads:
        command += ["--threads", str(args.wetmr_threads)]
    return command


def run(args):
    session = SparkSession.builder.appName("wetmr word count").getOrCreate()
    sc = session.sparkContext
    base = args.input_base_url
    entries = (
        sc.textFile(args.input, minPartitions=args.num_input_partitions)
        .map(lambda line: manifest_entry(line, base))
        .filter(lambda entry: entry is not None)
    )
    # One `wetmr map` per partition: its stdin is the partition's entries, its stdout the
    # counts of their files. A map that fails fails its task, which Spark retries. The
    # lines cross into the JVM as plain strings once; splitting, summing by word and
    # writing are Spark SQL's (no Python per word).
    command = shlex.join(map_command(args))
    lines = entries.pipe(command, checkCode=True)
    fields = F.split(F.col("value"), "\t")
    counts = (
        session.createDataFrame(lines, StringType())
        .select(
            fields.getItem(0).alias("key"),
            fields.getItem(1).cast(LongType()).alias("tf"),
            fields.getItem(2).cast(LongType()).alias("df"),
        )
        .groupBy("key")
        .agg(F.sum("tf").alias("tf"), F.sum("df").alias("df"))
        # A nullable struct, as cc-pyspark's schema declares it (never null here).
        .select("key", F.when(F.col("tf").isNotNull(), F.struct("tf", "df")).alias("val"))
        .repartition(args.num_output_partitions)
    )
    writer = (
        counts.write.format(args.output_format)
        .option("compression", args.output_compression)
    )
    for option in args.output_option:
        key, _, value = option.partition("=")
        writer = writer.option(key, value)
    writer.saveAsTable(args.output)
    session.stop()


if __name__ == "__main__":
    run(parse_args())
