/*
 * Records a session through the C API and reads it back, checking each answer: what a C, C++ or
 * Rust program does with libdreamlakec. scripts/test compiles it against the header alone, links
 * it with the library, runs it on a fresh folder, and then reads the session with the `dreamlake`
 * command. Exits 0 when everything held, 1 (saying what did not) otherwise.
 *
 *     record_and_read ROOT
 */
#include <dreamlake.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(condition, ...)                                                  \
    do {                                                                       \
        if (!(condition)) {                                                    \
            failures++;                                                        \
            fprintf(stderr, "record_and_read.c:%d: ", __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
        }                                                                      \
    } while (0)

/* Calls that must succeed: a failure is reported with the engine's message. */
#define MUST(call)                                                             \
    do {                                                                       \
        if ((call) != DREAMLAKE_OK) {                                          \
            failures++;                                                        \
            fprintf(stderr, "record_and_read.c:%d: %s failed: %s\n", __LINE__, \
                    #call, err.message ? err.message : "(no message)");        \
            dreamlake_error_clear(&err);                                       \
        }                                                                      \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: record_and_read ROOT\n");
        return 2;
    }
    const char *root = argv[1];
    dreamlake_error err = {0};
    CHECK(strlen(dreamlake_version()) >= 5, "a version: %s", dreamlake_version());

    /* Write. */
    dreamlake_session *s = NULL;
    MUST(dreamlake_session_new("from-c", "capi", root,
                               "{\"description\": \"written by record_and_read.c\", \"tags\": [\"c\"], \"folder\": \"/c\"}", &s, &err));
    CHECK(!dreamlake_session_is_open(s), "not open before open()");
    MUST(dreamlake_session_open(s, &err));
    CHECK(dreamlake_session_is_open(s), "open after open()");
    const char *message = "started from C";
    MUST(dreamlake_session_log(s, "info", message, strlen(message), "{\"lang\": \"c\"}", &err));
    MUST(dreamlake_session_set_parameters(s, "{\"lr\": 0.001, \"model\": {\"layers\": 4}}", &err));

    dreamlake_track *loss = NULL;
    MUST(dreamlake_track_new(s, "train/loss", "{\"description\": \"the training loss\"}", &loss, &err));
    for (int64_t i = 0; i < 100000; i++) {
        uint64_t index = 0;
        if (dreamlake_track_append_value(loss, 1.0 / (double)(i + 1), i, &index, &err) != DREAMLAKE_OK || index != (uint64_t)i) {
            CHECK(0, "append %lld: index %llu, %s", (long long)i, (unsigned long long)index, err.message ? err.message : "");
            dreamlake_error_clear(&err);
            break;
        }
    }
    dreamlake_track *acc = NULL;
    MUST(dreamlake_track_new(s, "accuracy", NULL, &acc, &err));
    dreamlake_field fields[4] = {
        {.key = "value", .key_length = 5, .kind = DREAMLAKE_FIELD_DOUBLE, .number = 0.5},
        {.key = "epoch", .key_length = 5, .kind = DREAMLAKE_FIELD_INT, .integer = 3},
        {.key = "phase", .key_length = 5, .kind = DREAMLAKE_FIELD_STRING, .text = "eval", .text_length = 4},
        {.key = "best", .key_length = 4, .kind = DREAMLAKE_FIELD_BOOL, .integer = 1},
    };
    uint64_t index = 99;
    MUST(dreamlake_track_append_fields(acc, fields, 4, &index, &err));
    CHECK(index == 0, "the first point's index is 0, not %llu", (unsigned long long)index);
    MUST(dreamlake_track_append_json(acc, "{\"value\": 0.75, \"epoch\": 4, \"phase\": \"eval\"}", &index, &err));
    CHECK(index == 1, "the second point's index is 1, not %llu", (unsigned long long)index);
    MUST(dreamlake_track_append_batch_json(acc, "[{\"value\": 0.8}, {\"value\": 0.9}]", &index, &err));
    CHECK(index == 2, "the batch starts at 2, not %llu", (unsigned long long)index);

    /* Refusals: each a code and a message, and the session goes on. */
    CHECK(dreamlake_track_append_json(acc, "[1, 2]", NULL, &err) == DREAMLAKE_E_INVALID_INPUT && err.message,
          "a point that is not an object is refused as invalid input (%d)", err.code);
    dreamlake_error_clear(&err);
    CHECK(dreamlake_track_append_json(acc, "{\"value\": ", NULL, &err) == DREAMLAKE_E_INVALID_INPUT, "unfinished JSON is refused");
    dreamlake_error_clear(&err);
    CHECK(dreamlake_session_log(s, "loud", "x", 1, NULL, &err) == DREAMLAKE_E_INVALID_ARGUMENT, "an unknown level is refused");
    CHECK(err.message && strstr(err.message, "loud"), "the message names the level: %s", err.message ? err.message : "");
    dreamlake_error_clear(&err);
    CHECK(dreamlake_track_append_value(NULL, 1, 1, NULL, &err) == DREAMLAKE_E_INVALID_ARGUMENT, "a NULL track is refused");
    dreamlake_error_clear(&err);
    dreamlake_session *bad = NULL;
    CHECK(dreamlake_session_new("../escape", "capi", root, NULL, &bad, &err) == DREAMLAKE_E_INVALID_NAME && bad == NULL,
          "a name that would leave the root is refused");
    dreamlake_error_clear(&err);
    CHECK(dreamlake_session_new("x", "capi", root, "{\"colour\": 1}", &bad, &err) == DREAMLAKE_E_INVALID_ARGUMENT, "an unknown option is refused");
    dreamlake_error_clear(&err);

    MUST(dreamlake_session_flush(s, &err));
    MUST(dreamlake_session_close(s, &err));
    CHECK(dreamlake_track_append_value(loss, 1, 1, NULL, &err) == DREAMLAKE_E_NOT_OPEN, "an append after close is refused (%d)", err.code);
    dreamlake_error_clear(&err);
    dreamlake_track_free(loss);
    dreamlake_track_free(acc);
    dreamlake_session_free(s);

    /* Read back, in another session object opened for reading. */
    dreamlake_session *r = NULL;
    MUST(dreamlake_session_new("from-c", "capi", root, NULL, &r, &err));
    MUST(dreamlake_session_open_for_reading(r, &err));
    char *json = NULL;
    MUST(dreamlake_session_info(r, &json, &err));
    CHECK(json && strstr(json, "\"description\": \"written by record_and_read.c\"") && strstr(json, "\"folder\": \"/c\""), "info: %s", json);
    dreamlake_free(json);
    MUST(dreamlake_session_get_parameters(r, 1, &json, &err));
    CHECK(json && strcmp(json, "{\"lr\": 0.001, \"model.layers\": 4}") == 0, "flat parameters: %s", json);
    dreamlake_free(json);
    MUST(dreamlake_session_read_logs(r, 0, 10, &json, &err));
    CHECK(json && strstr(json, "\"message\": \"started from C\"") && strstr(json, "\"lang\": \"c\""), "logs: %s", json);
    dreamlake_free(json);
    dreamlake_track *read = NULL;
    MUST(dreamlake_track_new(r, "train/loss", NULL, &read, &err));
    MUST(dreamlake_track_stats(read, &json, &err));
    CHECK(json && strstr(json, "\"count\": 100000") && strstr(json, "\"description\": \"the training loss\""), "stats: %s", json);
    dreamlake_free(json);
    MUST(dreamlake_track_read(read, 99999, 10, &json, &err));
    CHECK(json && strstr(json, "\"index\": 99999") && strstr(json, "\"step\": 99999") && strstr(json, "\"hasMore\": false"), "read: %s", json);
    dreamlake_free(json);
    MUST(dreamlake_session_list_tracks(r, &json, &err));
    CHECK(json && strstr(json, "\"name\": \"accuracy\"") && strstr(json, "\"count\": 4"), "tracks: %s", json);
    dreamlake_free(json);
    CHECK(dreamlake_track_append_value(read, 1, 1, NULL, &err) == DREAMLAKE_E_READ_ONLY, "a reader does not write (%d)", err.code);
    dreamlake_error_clear(&err);
    dreamlake_track_free(read);
    MUST(dreamlake_session_close(r, &err));
    dreamlake_session_free(r);

    if (failures) {
        fprintf(stderr, "record_and_read: %d checks failed\n", failures);
        return 1;
    }
    printf("record_and_read: every check held\n");
    return 0;
}
