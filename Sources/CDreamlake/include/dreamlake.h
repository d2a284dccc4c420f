/*
 * dreamlake.h: the C API of Dreamlake, the experiment tracker's engine.
 *
 * A session records one run: logs, parameters, tracks (time series of points
 * with flexible fields, such as {"value": 0.31, "step": 1200}) and files. It is
 * kept in a store under <local_path>/<workspace>/<name>/ (or an S3 root,
 * s3://bucket/prefix), which the `dreamlake` command and viewer read.
 *
 *     dreamlake_error err = {0};
 *     dreamlake_session *s = NULL;
 *     if (dreamlake_session_new("run-1", "vision", "./runs", NULL, &s, &err) ||
 *         dreamlake_session_open(s, &err)) { fprintf(stderr, "%s\n", err.message); ... }
 *     dreamlake_track *loss = NULL;
 *     dreamlake_track_new(s, "loss", &loss, &err);
 *     for (int64_t i = 0; i < 1000; i++) dreamlake_track_append_value(loss, 1.0 / (i + 1), i, NULL, &err);
 *     dreamlake_track_free(loss);
 *     dreamlake_session_close(s, &err);
 *     dreamlake_session_free(s);
 *
 * Conventions:
 * - Every function that can fail returns 0 on success, or an error code
 *   (DREAMLAKE_E_*), and fills `err` when it is not NULL: `err->message` says
 *   what happened and what to do, `err->path` the file it is about (or NULL).
 *   Both are allocated: dreamlake_error_clear() frees them (a later failure
 *   clears an error it is given first).
 * - Strings are UTF-8 and NUL-terminated unless a length is given with them.
 *   JSON passed in is an object (or NULL for none); JSON given back is
 *   allocated, NUL-terminated, and freed with dreamlake_free().
 * - Handles are safe to use from many threads at once. A track handle keeps
 *   its session alive; free each handle once.
 * - Nothing here waits on the network for an append: appends go to the local
 *   store (an S3 root's spool), and a thread of the engine writes them.
 */
#ifndef DREAMLAKE_H
#define DREAMLAKE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: what kind of failure (the message says which). */
enum {
    DREAMLAKE_OK = 0,
    DREAMLAKE_E_INVALID_NAME = 1,      /* a session, workspace, track or file name refused */
    DREAMLAKE_E_NOT_OPEN = 2,          /* the session is not open */
    DREAMLAKE_E_WRITE_PROTECTED = 3,   /* the session refuses writes */
    DREAMLAKE_E_READ_ONLY = 4,         /* the session was opened for reading only */
    DREAMLAKE_E_NOT_FOUND = 5,         /* no such session, track or file */
    DREAMLAKE_E_CHECKSUM_MISMATCH = 6, /* a stored file's bytes are not what was stored */
    DREAMLAKE_E_INVALID_VALUE = 7,     /* a value that cannot be stored */
    DREAMLAKE_E_INVALID_ARGUMENT = 8,  /* an argument out of range or malformed */
    DREAMLAKE_E_STORE = 9,             /* the store failed or is damaged */
    DREAMLAKE_E_IO = 10,               /* a file or the network failed */
    DREAMLAKE_E_INVALID_INPUT = 11,    /* input read from a file or given as JSON is malformed */
    DREAMLAKE_E_EXISTS = 12,           /* something of that name is there already */
    DREAMLAKE_E_REMOTE = 13,           /* a remote session's server refused or could not be reached */
    DREAMLAKE_E_BUSY = 14,             /* another machine writes the session */
    DREAMLAKE_E_UNKNOWN = 99           /* a failure of a kind this header does not name */
};

/* A failure: its code, what happened (UTF-8) and the file it is about (NULL when none). */
typedef struct dreamlake_error {
    int code;
    char *message;
    char *path;
} dreamlake_error;

/* Frees what `err` holds and zeroes it (harmless on a zeroed one). */
void dreamlake_error_clear(dreamlake_error *err);

/* Frees a string or buffer this API allocated. */
void dreamlake_free(void *pointer);

/* The engine's version, "MAJOR.MINOR.PATCH" (static; not to be freed). */
const char *dreamlake_version(void);

typedef struct dreamlake_session dreamlake_session;
typedef struct dreamlake_track dreamlake_track;

/*
 * A session object; nothing is written until dreamlake_session_open().
 * `local_path` NULL means $DREAMLAKE_PATH, else ./.dreamlake. `options_json` is NULL
 * or an object with any of: "description" (string), "tags" (array of strings),
 * "folder" (string), "metadata" (object), "write_protected" (bool), "rank"
 * (0..9999), "durability" ("buffered", "always" or milliseconds as a number).
 *
 * With "remote" (a server's URL, "http://host:port": `dreamlake serve`, or any server of
 * Python dreamlake 0.2.4's API) the session is remote, and "api_key" (a bearer token) or
 * "user_name" (a token is minted for that user with Python dreamlake's client secret) is
 * required. Appends go to a local store first and are sent in the background: `local_path`
 * keeps that copy readable (Python's hybrid mode), NULL keeps it in $DREAMLAKE_SPOOL (else
 * ~/.cache/dreamlake/spool) and reads ask the server. flush and close wait for delivery
 * (30 s at most) and fail with DREAMLAKE_E_REMOTE when the server refused or was not reached;
 * what was not delivered is sent when the session is opened again. A remote session takes no "rank".
 */
int dreamlake_session_new(const char *name, const char *workspace, const char *local_path,
                          const char *options_json, dreamlake_session **out, dreamlake_error *err);
/* Closes the session when open (its errors dropped: close first to see them) and frees it. */
void dreamlake_session_free(dreamlake_session *session);

/* Opens the session to write: creates its store, or continues the one there. */
int dreamlake_session_open(dreamlake_session *session, dreamlake_error *err);
/* Opens the session to read only (writes nothing; another process may write it meanwhile). */
int dreamlake_session_open_for_reading(dreamlake_session *session, dreamlake_error *err);
/* Makes everything appended so far durable before it returns. */
int dreamlake_session_flush(dreamlake_session *session, dreamlake_error *err);
/* Flushes and closes the session (closing twice is harmless). */
int dreamlake_session_close(dreamlake_session *session, dreamlake_error *err);
/* 1 when the session is open, else 0. */
int dreamlake_session_is_open(const dreamlake_session *session);
/* The session's stored fields as a JSON object (name, workspace, description, tags, folder,
   metadata, created_at, write_protected, updated_at), and its directory as "directory". */
int dreamlake_session_info(dreamlake_session *session, char **json_out, dreamlake_error *err);

/* Logs `message` (of `message_length` bytes) at `level` ("debug", "info", "warn", "error",
   "fatal"; NULL for "info") with `metadata_json` (an object, or NULL). */
int dreamlake_session_log(dreamlake_session *session, const char *level, const char *message, size_t message_length,
                          const char *metadata_json, dreamlake_error *err);
/* Log entries from index `start` on, at most `limit`, as a JSON array of
   {"index", "timestamp", "level", "message", "metadata"?, "rank"?}. */
int dreamlake_session_read_logs(dreamlake_session *session, uint64_t start, uint64_t limit, char **json_out,
                                dreamlake_error *err);

/* Sets parameters from a JSON object (nested objects become dot keys, as Python dreamlake's). */
int dreamlake_session_set_parameters(dreamlake_session *session, const char *json, dreamlake_error *err);
/* The parameters as a JSON object, flat with dot keys when `flatten` is nonzero, else nested. */
int dreamlake_session_get_parameters(dreamlake_session *session, int flatten, char **json_out, dreamlake_error *err);

/* Every track with its statistics, as a JSON array of the objects dreamlake_track_stats gives. */
int dreamlake_session_list_tracks(dreamlake_session *session, char **json_out, dreamlake_error *err);

/* The track `name` of the session, defined by its first append with `options_json` (NULL, or an object
   with any of "description" (string), "tags" (array of strings), "metadata" (object); a track that
   exists keeps its own). */
int dreamlake_track_new(dreamlake_session *session, const char *name, const char *options_json, dreamlake_track **out,
                        dreamlake_error *err);
/* Frees a track handle. */
void dreamlake_track_free(dreamlake_track *track);

/* The fast path: appends {"value": value, "step": step}; `index_out` (may be NULL) gets its index. */
int dreamlake_track_append_value(dreamlake_track *track, double value, int64_t step, uint64_t *index_out,
                                 dreamlake_error *err);

/* A field of a point for dreamlake_track_append_fields. */
enum {
    DREAMLAKE_FIELD_NULL = 0,
    DREAMLAKE_FIELD_BOOL = 1,    /* integer: 0 or 1 */
    DREAMLAKE_FIELD_INT = 2,     /* integer */
    DREAMLAKE_FIELD_DOUBLE = 3,  /* number */
    DREAMLAKE_FIELD_STRING = 4,  /* text, text_length bytes of UTF-8 */
    DREAMLAKE_FIELD_JSON = 5     /* text, text_length bytes: any JSON value (an array, an object) */
};
typedef struct dreamlake_field {
    const char *key;
    size_t key_length;
    int kind;
    int64_t integer;
    double number;
    const char *text;
    size_t text_length;
} dreamlake_field;

/* Appends a point of `count` fields, in their order. */
int dreamlake_track_append_fields(dreamlake_track *track, const dreamlake_field *fields, size_t count,
                                  uint64_t *index_out, dreamlake_error *err);
/* Appends a point given as a JSON object. */
int dreamlake_track_append_json(dreamlake_track *track, const char *json, uint64_t *index_out, dreamlake_error *err);
/* Appends the points of a JSON array of objects, in order; `first_index_out` gets the first one's index. */
int dreamlake_track_append_batch_json(dreamlake_track *track, const char *json, uint64_t *first_index_out,
                                      dreamlake_error *err);

/* A field of a batch: `count` values (see dreamlake_track_append_columns) of one kind. */
typedef struct dreamlake_column {
    const char *key;
    size_t key_length;
    int kind;           /* DREAMLAKE_FIELD_DOUBLE (double), DREAMLAKE_FIELD_INT (int64_t) or DREAMLAKE_FIELD_BOOL (uint8_t) */
    const void *values; /* the column's values, one per point */
} dreamlake_column;

/* Appends `count` points, point k holding each column's k-th value, in the columns' order, all with one
   timestamp. A "value" column of doubles and a "step" column of integers, alone and in that order, take
   the engine's batch path (one lock a block); other shapes are appended point by point. `first_index_out`
   gets the first point's index; the others follow it. */
int dreamlake_track_append_columns(dreamlake_track *track, const dreamlake_column *columns, size_t column_count, size_t count,
                                   uint64_t *first_index_out, dreamlake_error *err);

/* Reads fields `keys` of points start .. start + limit - 1 as columns of doubles: `columns[j]` (room for
   `limit`) gets field keys[j] of each point (an integer or a bool as a number, NaN when the point lacks it
   or it is not a number), `indexes` (room for `limit`, or NULL) each point's index; `count_out` gets how
   many points were read. */
int dreamlake_track_read_columns(dreamlake_track *track, uint64_t start, uint64_t limit, const char *const *keys,
                                 size_t key_count, double *const *columns, uint64_t *indexes, uint64_t *count_out,
                                 dreamlake_error *err);

/* The M4 envelope of field `key` ("value" when NULL) over the whole track in `buckets` buckets, as a JSON
   array of {"start", "end", "count", "first", "last", "min", "max", "nan", "inf", "-inf", "missing"}, where
   first, last, min and max are {"index", "value"} or null. */
int dreamlake_track_envelope(dreamlake_track *track, const char *key, uint32_t buckets, char **json_out, dreamlake_error *err);

/* Writes every point of the track to a Parquet file at `path` (created, or emptied; never written through a
   link), with the columns a track's file in `dreamlake export --format parquet` has: workspace, session, index,
   timestamp (UTC microseconds), rank, then a column a field. A track never appended to is an error (not found). */
int dreamlake_track_write_parquet(dreamlake_track *track, const char *path, dreamlake_error *err);

/* Points start .. start + limit - 1 as a JSON object {"points": [{"index", "timestamp", "data", "rank"?}],
   "startIndex", "hasMore"}. */
int dreamlake_track_read(dreamlake_track *track, uint64_t start, uint64_t limit, char **json_out, dreamlake_error *err);
/* The track's statistics: {"name", "count", "firstIndex", "lastIndex", "firstTimestamp", "lastTimestamp",
   "description", "tags", "metadata", "createdAt", "updatedAt"}. */
int dreamlake_track_stats(dreamlake_track *track, char **json_out, dreamlake_error *err);

/* Files. A stored file's record is a JSON object {"id", "sessionId", "path", "filename", "description",
   "tags", "contentType", "sizeBytes", "checksum" (SHA-256, hex), "metadata", "uploadedAt", "updatedAt"}. */

/* Copies the file at `local_file` into the session; `options_json` is NULL or an object with any of "path"
   (the folder to file it under, default "/"), "description", "tags", "metadata". Gives its record. */
int dreamlake_files_upload(dreamlake_session *session, const char *local_file, const char *options_json, char **json_out,
                           dreamlake_error *err);
/* The stored files as a JSON array of records, oldest first: those under `path` (NULL: all) carrying any of
   `tags_json` (NULL, or an array of strings). */
int dreamlake_files_list(dreamlake_session *session, const char *path, const char *tags_json, char **json_out,
                         dreamlake_error *err);
/* Copies stored file `id` to `destination` (a folder, which gets the file's name, or a file path; NULL: the
   working folder), checking its SHA-256 on the way; `path_out` gets the path written. */
int dreamlake_files_download(dreamlake_session *session, const char *id, const char *destination, char **path_out,
                             dreamlake_error *err);
/* Changes a stored file's "description", "tags" or "metadata" (those `options_json` has); gives its record. */
int dreamlake_files_update(dreamlake_session *session, const char *id, const char *options_json, char **json_out,
                           dreamlake_error *err);
/* Deletes a stored file from the listing (its bytes stay); gives {"id", "deletedAt"}. */
int dreamlake_files_delete(dreamlake_session *session, const char *id, char **json_out, dreamlake_error *err);

#ifdef __cplusplus
}
#endif

#endif /* DREAMLAKE_H */
