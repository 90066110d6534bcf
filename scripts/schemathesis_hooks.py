"""Schemathesis hooks for Tidewatch's document (loaded through SCHEMATHESIS_HOOKS).

The Elasticsearch bulk endpoints take NDJSON, which Schemathesis cannot serialise by
itself; a generated body is sent as its text, like text/plain, so those operations get
every check (methods, auth, schema-violating bodies refused) instead of being skipped.
"""
import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
