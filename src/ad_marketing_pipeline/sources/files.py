"""JSON-lines landing files as a stream of received records: Auto Loader (`cloudFiles`) on
Databricks, Spark's file stream locally. Each line is one record; the file path and the line's
number in the file (in `offset`, from 0) are kept, so every record has a position that orders
it: which of two copies of an event was received first is decided by (file, line).

Every file is read once, whatever its modification time: a file moved in with an old mtime
(`mv`, `cp -p`, `rsync -a` keep it) is read like a new one. Spark's file source ignores files
older than `maxFileAge` (7 days by default) behind the newest file it has seen, so the age is
set beyond any real file's; Auto Loader keeps no such limit by default, and its incremental
listing (which assumes lexically ordered names and would miss a file named before the newest
one) is turned off.

A file is read whole and split into lines here (`wholetext`), since Spark's line reader keeps no
line numbers: keep landing files to a few hundred megabytes at most. The split works on the
file's bytes (seen through ISO-8859-1, which maps each byte to one character and back), so a
line that is not valid UTF-8 lands byte for byte, as the line reader would keep it.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, TimestampType

from ad_marketing_pipeline.tables import KAFKA_HEADERS_TYPE

# Older than any file can be (the age counts back from the newest file seen, not from now).
NO_MAX_FILE_AGE = "36500d"
# One character per byte, and back: splits bytes that may not be valid UTF-8 losslessly.
_BYTES = "ISO-8859-1"
# Line breaks as Spark's text reader knows them: \n, \r\n and \r.
_LINE_BREAK = "\r\n|\r|\n"


def landing_file_options(
    *, file_pattern: str, max_files_per_trigger: int | None, use_auto_loader: bool
) -> dict[str, str]:
    """The file source's options: every file read once whatever its modification time or
    name, each read whole (`wholetext`) to number its lines."""
    options = {"wholetext": "true", "pathGlobFilter": file_pattern}
    if use_auto_loader:
        options |= {
            "cloudFiles.format": "text",
            # Incremental listing assumes files arrive in lexical order of their names; a file
            # moved in under an earlier name would be skipped. Auto Loader keeps no maximum
            # file age unless cloudFiles.maxFileAge is set, and it is not.
            "cloudFiles.useIncrementalListing": "false",
            "cloudFiles.includeExistingFiles": "true",
        }
        if max_files_per_trigger is not None:
            options["cloudFiles.maxFilesPerTrigger"] = str(max_files_per_trigger)
        return options
    options["maxFileAge"] = NO_MAX_FILE_AGE
    if max_files_per_trigger is not None:
        options["maxFilesPerTrigger"] = str(max_files_per_trigger)
    return options


def read_landing_files(
    spark: SparkSession,
    path: str,
    *,
    file_pattern: str,
    max_files_per_trigger: int | None,
    use_auto_loader: bool,
) -> DataFrame:
    """A stream of the lines of the files matching `file_pattern` in `path` (and new ones)."""
    options = landing_file_options(
        file_pattern=file_pattern,
        max_files_per_trigger=max_files_per_trigger,
        use_auto_loader=use_auto_loader,
    )
    source_format = "cloudFiles" if use_auto_loader else "text"
    files = spark.readStream.format(source_format).options(**options).load(path)
    return files.select(
        F.posexplode(file_lines(F.decode(F.col("value").cast("binary"), _BYTES))).alias(
            "offset", "line"
        ),
        F.col("_metadata.file_path").alias("file_path"),
        F.col("_metadata.file_modification_time").alias("file_modification_time"),
    ).select(
        F.encode(F.col("line"), _BYTES).cast(StringType()).alias("payload"),
        F.lit(None).cast(StringType()).alias("key"),
        F.lit(None).cast(KAFKA_HEADERS_TYPE).alias("headers"),
        F.lit("files").alias("source_kind"),
        F.lit(None).cast(StringType()).alias("topic"),
        F.lit(None).cast(IntegerType()).alias("partition"),
        F.col("offset").cast("bigint").alias("offset"),
        F.lit(None).cast(TimestampType()).alias("source_timestamp"),
        "file_path",
        "file_modification_time",
    )


def file_lines(text: Column) -> Column:
    """A file's text as its lines, as Spark's line reader splits them: at \n, \r\n or \r, no
    line after a final line break, none at all in an empty file."""
    lines = F.split(text, _LINE_BREAK)
    ends_with_break = text.rlike("(\r|\n)$")
    whole = F.when(ends_with_break, F.slice(lines, 1, F.size(lines) - 1)).otherwise(lines)
    return F.when(text == "", F.array().cast("array<string>")).otherwise(whole)
