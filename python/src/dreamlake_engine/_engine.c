/*
 * _engine: the CPython extension between dreamlake_engine's Python API and the C API of
 * libdreamlakec (Sources/CDreamlake/include/dreamlake.h), which is the Swift engine.
 *
 * What is here is what must be fast or must be exact: the per-call paths (a track's append, with
 * its value/step fast path), the conversion of Python values to a point's fields, the release of
 * the GIL around everything that may wait, and the refusal of handles a forked child inherited.
 * The rest of the API (the builders, the decorator, the files) is Python, in __init__.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dreamlake.h"

/* ---- Errors ---------------------------------------------------------------------------- */

/* Python's classes for the engine's error codes (set by _set_errors from __init__.py), and the
   base class used for a code with none. */
static PyObject *error_classes = NULL; /* dict: int code -> class */
static PyObject *error_base = NULL;

/* Raises the Python exception for `err` (and clears it). Returns NULL, for `return raise(...)`. */
static PyObject *raise_error(dreamlake_error *err) {
    PyObject *cls = NULL;
    if (error_classes) {
        PyObject *key = PyLong_FromLong(err->code);
        if (key) {
            cls = PyDict_GetItemWithError(error_classes, key); /* borrowed */
            Py_DECREF(key);
        }
    }
    if (!cls) cls = error_base ? error_base : PyExc_RuntimeError;
    const char *message = err->message ? err->message : "the engine failed without saying why";
    PyObject *value = err->path ? Py_BuildValue("(sis)", message, err->code, err->path)
                                : Py_BuildValue("(siO)", message, err->code, Py_None);
    if (value) {
        PyErr_SetObject(cls, value);
        Py_DECREF(value);
    }
    dreamlake_error_clear(err);
    return NULL;
}

/* ---- fork() ---------------------------------------------------------------------------- */

/* Counts the forks this process came through. A handle remembers the count it was made at: in a
   child, the parent's sessions are refused (their writer thread does not exist there) and never
   closed or freed (that would write to a store the parent writes). */
static volatile uint64_t fork_generation = 0;

static void after_fork_in_child(void) { fork_generation++; }

static PyObject *forked_error(void) {
    dreamlake_error err = {0};
    err.code = DREAMLAKE_E_NOT_OPEN;
    err.message = strdup(
        "this session was opened in the parent process, before fork(): a forked child (a DataLoader worker) "
        "does not write through the parent's session; open a Session of its own in the child (it writes as its "
        "own writer), or log from the parent");
    return raise_error(&err);
}

/* ---- Session --------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    dreamlake_session *session;
    uint64_t generation;
} SessionObject;

static PyTypeObject SessionType;

#define SESSION_READY(self)                                                  \
    do {                                                                     \
        if ((self)->generation != fork_generation) return forked_error();   \
        if (!(self)->session) {                                              \
            PyErr_SetString(PyExc_RuntimeError, "the session was freed");    \
            return NULL;                                                     \
        }                                                                    \
    } while (0)

static int Session_init(SessionObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"name", "workspace", "local_path", "options_json", NULL};
    const char *name, *workspace, *local_path = NULL, *options = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "ss|zz", keywords, &name, &workspace, &local_path, &options)) return -1;
    if (self->session) {
        PyErr_SetString(PyExc_RuntimeError, "the engine's session is made once");
        return -1;
    }
    dreamlake_error err = {0};
    dreamlake_session *s = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = dreamlake_session_new(name, workspace, local_path, options, &s, &err);
    Py_END_ALLOW_THREADS
    if (rc) {
        raise_error(&err);
        return -1;
    }
    self->session = s;
    self->generation = fork_generation;
    return 0;
}

static void Session_dealloc(SessionObject *self) {
    if (self->session && self->generation == fork_generation) {
        dreamlake_session *s = self->session;
        Py_BEGIN_ALLOW_THREADS
        dreamlake_session_free(s);
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Runs a call that may wait (on the disk, the network) without the GIL. */
#define WAITING_CALL(rc, call)  \
    Py_BEGIN_ALLOW_THREADS      \
    rc = (call);                \
    Py_END_ALLOW_THREADS

/* Returns from a method whose engine call may wait and gives nothing back: the call is made without
   the GIL (it names its error `&err`); the method returns None, or raises the engine's error. */
#define RETURN_AFTER_WAITING(call)        \
    do {                                  \
        dreamlake_error err = {0};        \
        int rc;                           \
        WAITING_CALL(rc, call);           \
        if (rc) return raise_error(&err); \
        Py_RETURN_NONE;                   \
    } while (0)

/* The same for a call that gives JSON text (into `&json`): the method returns it as a str. */
#define RETURN_JSON_AFTER_WAITING(call)   \
    do {                                  \
        dreamlake_error err = {0};        \
        char *json = NULL;                \
        int rc;                           \
        WAITING_CALL(rc, call);           \
        if (rc) return raise_error(&err); \
        return take_json(json);           \
    } while (0)

static PyObject *Session_open(SessionObject *self, PyObject *Py_UNUSED(ignored)) {
    SESSION_READY(self);
    RETURN_AFTER_WAITING(dreamlake_session_open(self->session, &err));
}

static PyObject *Session_open_for_reading(SessionObject *self, PyObject *Py_UNUSED(ignored)) {
    SESSION_READY(self);
    RETURN_AFTER_WAITING(dreamlake_session_open_for_reading(self->session, &err));
}

static PyObject *Session_flush(SessionObject *self, PyObject *Py_UNUSED(ignored)) {
    SESSION_READY(self);
    RETURN_AFTER_WAITING(dreamlake_session_flush(self->session, &err));
}

static PyObject *Session_close(SessionObject *self, PyObject *Py_UNUSED(ignored)) {
    SESSION_READY(self);
    RETURN_AFTER_WAITING(dreamlake_session_close(self->session, &err));
}

/* Raises what makes the handle unusable here (it came through fork()), else returns None. */
static PyObject *Session_check(SessionObject *self, PyObject *Py_UNUSED(ignored)) {
    SESSION_READY(self);
    Py_RETURN_NONE;
}

static PyObject *Session_is_open(SessionObject *self, void *Py_UNUSED(closure)) {
    if (self->generation != fork_generation || !self->session) Py_RETURN_FALSE;
    return PyBool_FromLong(dreamlake_session_is_open(self->session));
}

/* Takes JSON text the engine allocated and returns it as a str. */
static PyObject *take_json(char *json) {
    PyObject *out = PyUnicode_FromString(json ? json : "null");
    dreamlake_free(json);
    return out;
}

static PyObject *Session_info(SessionObject *self, PyObject *Py_UNUSED(ignored)) {
    SESSION_READY(self);
    RETURN_JSON_AFTER_WAITING(dreamlake_session_info(self->session, &json, &err));
}

static PyObject *Session_log(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    const char *level;
    const char *message;
    Py_ssize_t length;
    const char *metadata = NULL;
    if (!PyArg_ParseTuple(args, "ss#|z", &level, &message, &length, &metadata)) return NULL;
    dreamlake_error err = {0};
    if (dreamlake_session_log(self->session, level, message, (size_t)length, metadata, &err)) return raise_error(&err);
    Py_RETURN_NONE;
}

static PyObject *Session_read_logs(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    unsigned long long start, limit;
    if (!PyArg_ParseTuple(args, "KK", &start, &limit)) return NULL;
    RETURN_JSON_AFTER_WAITING(dreamlake_session_read_logs(self->session, start, limit, &json, &err));
}

static PyObject *Session_set_parameters(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    const char *json;
    if (!PyArg_ParseTuple(args, "s", &json)) return NULL;
    dreamlake_error err = {0};
    if (dreamlake_session_set_parameters(self->session, json, &err)) return raise_error(&err);
    Py_RETURN_NONE;
}

static PyObject *Session_get_parameters(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    int flatten = 1;
    if (!PyArg_ParseTuple(args, "|p", &flatten)) return NULL;
    RETURN_JSON_AFTER_WAITING(dreamlake_session_get_parameters(self->session, flatten, &json, &err));
}

static PyObject *Session_list_tracks(SessionObject *self, PyObject *Py_UNUSED(ignored)) {
    SESSION_READY(self);
    RETURN_JSON_AFTER_WAITING(dreamlake_session_list_tracks(self->session, &json, &err));
}

/* ---- Files ------------------------------------------------------------------------------ */

static PyObject *Session_files_upload(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    const char *file, *options = NULL;
    if (!PyArg_ParseTuple(args, "s|z", &file, &options)) return NULL;
    RETURN_JSON_AFTER_WAITING(dreamlake_files_upload(self->session, file, options, &json, &err));
}

static PyObject *Session_files_list(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    const char *path = NULL, *tags = NULL;
    if (!PyArg_ParseTuple(args, "|zz", &path, &tags)) return NULL;
    RETURN_JSON_AFTER_WAITING(dreamlake_files_list(self->session, path, tags, &json, &err));
}

static PyObject *Session_files_download(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    const char *id, *destination = NULL;
    if (!PyArg_ParseTuple(args, "s|z", &id, &destination)) return NULL;
    dreamlake_error err = {0};
    char *path = NULL;
    int rc;
    WAITING_CALL(rc, dreamlake_files_download(self->session, id, destination, &path, &err));
    if (rc) return raise_error(&err);
    PyObject *out = PyUnicode_FromString(path);
    dreamlake_free(path);
    return out;
}

static PyObject *Session_files_update(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    const char *id, *options = NULL;
    if (!PyArg_ParseTuple(args, "s|z", &id, &options)) return NULL;
    RETURN_JSON_AFTER_WAITING(dreamlake_files_update(self->session, id, options, &json, &err));
}

static PyObject *Session_files_delete(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    const char *id;
    if (!PyArg_ParseTuple(args, "s", &id)) return NULL;
    RETURN_JSON_AFTER_WAITING(dreamlake_files_delete(self->session, id, &json, &err));
}

/* ---- Track ----------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    dreamlake_track *track;
    PyObject *session; /* the SessionObject, kept alive while the track is */
    PyObject *name;
    uint64_t generation;
} TrackObject;

static PyTypeObject TrackType;

/* Interned keyword names: a call's keyword names are interned by the compiler, so the fast path
   compares pointers. */
static PyObject *str_value, *str_step;
/* json.dumps, for a field whose value is a list, a dict or anything else JSON can say. */
static PyObject *json_dumps;

static PyObject *Track_new_from(SessionObject *session, PyObject *name, const char *options) {
    Py_ssize_t length;
    const char *text = PyUnicode_AsUTF8AndSize(name, &length);
    if (!text) return NULL;
    if ((Py_ssize_t)strlen(text) != length) {
        PyErr_SetString(PyExc_ValueError, "a track's name holds a NUL character");
        return NULL;
    }
    dreamlake_error err = {0};
    dreamlake_track *t = NULL;
    if (dreamlake_track_new(session->session, text, options, &t, &err)) return raise_error(&err);
    TrackObject *self = PyObject_New(TrackObject, &TrackType);
    if (!self) {
        dreamlake_track_free(t);
        return NULL;
    }
    self->track = t;
    Py_INCREF(session);
    self->session = (PyObject *)session;
    Py_INCREF(name);
    self->name = name;
    self->generation = fork_generation;
    return (PyObject *)self;
}

static PyObject *Session_track(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    PyObject *name;
    const char *options = NULL;
    if (!PyArg_ParseTuple(args, "U|z", &name, &options)) return NULL;
    return Track_new_from(self, name, options);
}

/* session.append_metrics(tracks, metrics, step): for each name = number of the dict `metrics`, appends
   {"value": number, "step": step} to the track of that name through the engine's fast path, the engine's
   tracks kept in the dict `tracks` (name -> engine track) across calls. A value is a float, an int, or
   anything float() takes (a NumPy number, a tensor of one value). Returns None; the first value that is
   no number raises TypeError, the metrics before it appended. */
static PyObject *Session_append_metrics(SessionObject *self, PyObject *args) {
    SESSION_READY(self);
    PyObject *tracks, *metrics;
    long long step;
    if (!PyArg_ParseTuple(args, "O!O!L", &PyDict_Type, &tracks, &PyDict_Type, &metrics, &step)) return NULL;
    Py_ssize_t pos = 0;
    PyObject *name, *value;
    while (PyDict_Next(metrics, &pos, &name, &value)) {
        if (!PyUnicode_Check(name)) {
            PyErr_Format(PyExc_TypeError, "a metric's name is a str, not %.100s", Py_TYPE(name)->tp_name);
            return NULL;
        }
        double number;
        if (PyFloat_Check(value)) {
            number = PyFloat_AS_DOUBLE(value);
        } else if (PyLong_Check(value)) {
            number = PyLong_AsDouble(value);
            if (number == -1.0 && PyErr_Occurred()) return NULL;
        } else {
            PyObject *f = PyNumber_Float(value);
            if (!f) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, "metric %U is a %.100s, not a number", name, Py_TYPE(value)->tp_name);
                return NULL;
            }
            number = PyFloat_AS_DOUBLE(f);
            Py_DECREF(f);
        }
        PyObject *track = PyDict_GetItemWithError(tracks, name);
        if (!track) {
            if (PyErr_Occurred()) return NULL;
            track = Track_new_from(self, name, NULL);
            if (!track) return NULL;
            int stored = PyDict_SetItem(tracks, name, track);
            Py_DECREF(track); /* the dict holds it */
            if (stored < 0) return NULL;
        } else if (!PyObject_TypeCheck(track, &TrackType)) {
            PyErr_SetString(PyExc_TypeError, "the tracks cache holds something other than engine tracks");
            return NULL;
        }
        dreamlake_error err = {0};
        uint64_t index;
        if (dreamlake_track_append_value(((TrackObject *)track)->track, number, step, &index, &err)) return raise_error(&err);
    }
    Py_RETURN_NONE;
}

static void Track_dealloc(TrackObject *self) {
    if (self->track && self->generation == fork_generation) dreamlake_track_free(self->track);
    Py_XDECREF(self->session);
    Py_XDECREF(self->name);
    PyObject_Free(self);
}

#define TRACK_READY(self) \
    do { if ((self)->generation != fork_generation) return forked_error(); } while (0)

/* Fills `f` with `key` = `value`; `holder` keeps text alive (a json.dumps result) until the call.
   Returns 0, or -1 with a Python exception set. */
static int field_from(dreamlake_field *f, PyObject *key, PyObject *value, PyObject **holder) {
    Py_ssize_t n;
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "a point's field names are str, not %.100s", Py_TYPE(key)->tp_name);
        return -1;
    }
    f->key = PyUnicode_AsUTF8AndSize(key, &n);
    if (!f->key) return -1;
    f->key_length = (size_t)n;
    f->integer = 0;
    f->number = 0;
    f->text = NULL;
    f->text_length = 0;
    *holder = NULL;
    if (value == Py_None) {
        f->kind = DREAMLAKE_FIELD_NULL;
    } else if (PyBool_Check(value)) {
        f->kind = DREAMLAKE_FIELD_BOOL;
        f->integer = value == Py_True;
    } else if (PyLong_Check(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) return -1;
        if (overflow) {
            PyErr_Format(PyExc_OverflowError, "field %U is an integer past 64 bits, which the store cannot keep exactly; "
                         "give it as a float or a str", key);
            return -1;
        }
        f->kind = DREAMLAKE_FIELD_INT;
        f->integer = v;
    } else if (PyFloat_Check(value)) {
        f->kind = DREAMLAKE_FIELD_DOUBLE;
        f->number = PyFloat_AS_DOUBLE(value);
    } else if (PyUnicode_Check(value)) {
        f->kind = DREAMLAKE_FIELD_STRING;
        f->text = PyUnicode_AsUTF8AndSize(value, &n);
        if (!f->text) return -1;
        f->text_length = (size_t)n;
    } else {
        /* A number of another type (a NumPy scalar, a one-value tensor: its int or float, exactly), else
           lists, dicts and anything json.dumps takes. */
        PyObject *number = NULL;
        if (PyNumber_Check(value) && !PyList_Check(value) && !PyTuple_Check(value) && !PyDict_Check(value)) {
            if (PyIndex_Check(value)) {
                number = PyNumber_Index(value); /* an integer array of one value has it; a float one refuses */
                if (!number) PyErr_Clear();
            }
            if (!number) {
                number = PyNumber_Float(value);
                if (!number) PyErr_Clear();
            }
        }
        if (number) {
            int rc = field_from(f, key, number, holder);
            if (rc) {
                Py_DECREF(number);
                return rc;
            }
            *holder = number; /* the field holds a copy of its value; released with the others */
            return 0;
        }
        PyObject *text = PyObject_CallOneArg(json_dumps, value);
        if (!text) return -1;
        f->kind = DREAMLAKE_FIELD_JSON;
        f->text = PyUnicode_AsUTF8AndSize(text, &n);
        if (!f->text) {
            Py_DECREF(text);
            return -1;
        }
        f->text_length = (size_t)n;
        *holder = text;
    }
    return 0;
}

/* The result of an append, as Python dreamlake's local mode gives it: a dict {"trackId", "index",
   "bufferedDataPoints", "chunkSize"}. Made on the hot path as a small object holding the index; the
   dict is built only when it is looked at (result["index"], dict(result), ==, repr). */
typedef struct {
    PyObject_HEAD
    PyObject *track_name;
    uint64_t index;
    PyObject *dict; /* built on first look */
} AppendResultObject;

static PyTypeObject AppendResultType;

static PyObject *append_result(TrackObject *self, uint64_t index) {
    AppendResultObject *r = PyObject_New(AppendResultObject, &AppendResultType);
    if (!r) return NULL;
    Py_INCREF(self->name);
    r->track_name = self->name;
    r->index = index;
    r->dict = NULL;
    return (PyObject *)r;
}

static void AppendResult_dealloc(AppendResultObject *self) {
    Py_XDECREF(self->track_name);
    Py_XDECREF(self->dict);
    PyObject_Free(self);
}

static PyObject *AppendResult_dict(AppendResultObject *self) {
    if (!self->dict) {
        char index[32], count[32];
        snprintf(index, sizeof index, "%llu", (unsigned long long)self->index);
        snprintf(count, sizeof count, "%llu", (unsigned long long)self->index + 1);
        self->dict = Py_BuildValue("{s:O,s:s,s:s,s:i}", "trackId", self->track_name, "index", index,
                                   "bufferedDataPoints", count, "chunkSize", 10000);
    }
    return self->dict;
}

static PyObject *AppendResult_subscript(AppendResultObject *self, PyObject *key) {
    PyObject *d = AppendResult_dict(self);
    if (!d) return NULL;
    return PyObject_GetItem(d, key);
}

static Py_ssize_t AppendResult_length(AppendResultObject *self) {
    PyObject *d = AppendResult_dict(self);
    return d ? PyDict_GET_SIZE(d) : -1;
}

static PyObject *AppendResult_iter(AppendResultObject *self) {
    PyObject *d = AppendResult_dict(self);
    return d ? PyObject_GetIter(d) : NULL;
}

static PyObject *AppendResult_repr(AppendResultObject *self) {
    PyObject *d = AppendResult_dict(self);
    return d ? PyObject_Repr(d) : NULL;
}

static PyObject *AppendResult_richcompare(AppendResultObject *self, PyObject *other, int op) {
    PyObject *d = AppendResult_dict(self);
    if (!d) return NULL;
    if (Py_TYPE(other) == &AppendResultType) {
        other = AppendResult_dict((AppendResultObject *)other);
        if (!other) return NULL;
    }
    return PyObject_RichCompare(d, other, op);
}

/* dict's own methods (keys, items, values, get, copy), called on the dict. */
static PyObject *AppendResult_getattro(AppendResultObject *self, PyObject *name) {
    PyObject *found = PyObject_GenericGetAttr((PyObject *)self, name);
    if (found || !PyErr_ExceptionMatches(PyExc_AttributeError)) return found;
    PyErr_Clear();
    PyObject *d = AppendResult_dict(self);
    return d ? PyObject_GetAttr(d, name) : NULL;
}

static PyMappingMethods AppendResult_mapping = {
    .mp_length = (lenfunc)AppendResult_length,
    .mp_subscript = (binaryfunc)AppendResult_subscript,
};

static PyTypeObject AppendResultType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dreamlake_engine._engine.AppendResult",
    .tp_basicsize = sizeof(AppendResultObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "What append() returns: Python dreamlake's dict {trackId, index, bufferedDataPoints, chunkSize}, built when looked at.",
    .tp_dealloc = (destructor)AppendResult_dealloc,
    .tp_as_mapping = &AppendResult_mapping,
    .tp_iter = (getiterfunc)AppendResult_iter,
    .tp_repr = (reprfunc)AppendResult_repr,
    .tp_richcompare = (richcmpfunc)AppendResult_richcompare,
    .tp_getattro = (getattrofunc)AppendResult_getattro,
    .tp_hash = PyObject_HashNotImplemented,
};

#define MAX_FIELDS 64

/* track.append(**fields): vectorcall, keywords only. */
static PyObject *Track_append(TrackObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    TRACK_READY(self);
    if (nargs != 0) {
        PyErr_SetString(PyExc_TypeError, "append() takes the point's fields as keywords: append(value=0.5, step=1)");
        return NULL;
    }
    Py_ssize_t count = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    dreamlake_error err = {0};
    uint64_t index = 0;
    /* The fast path: append(value=FLOAT, step=INT). */
    if (count == 2 && PyTuple_GET_ITEM(kwnames, 0) == str_value && PyTuple_GET_ITEM(kwnames, 1) == str_step &&
        PyFloat_CheckExact(args[0]) && PyLong_CheckExact(args[1])) {
        int overflow = 0;
        long long step = PyLong_AsLongLongAndOverflow(args[1], &overflow);
        if (!overflow && !(step == -1 && PyErr_Occurred())) {
            if (dreamlake_track_append_value(self->track, PyFloat_AS_DOUBLE(args[0]), step, &index, &err)) return raise_error(&err);
            return append_result(self, index);
        }
        PyErr_Clear();
    }
    if (count > MAX_FIELDS) {
        PyErr_Format(PyExc_ValueError, "a point of %zd fields; at most %d", count, MAX_FIELDS);
        return NULL;
    }
    dreamlake_field fields[MAX_FIELDS];
    PyObject *holders[MAX_FIELDS];
    Py_ssize_t made = 0;
    PyObject *result = NULL;
    for (; made < count; made++) {
        if (field_from(&fields[made], PyTuple_GET_ITEM(kwnames, made), args[made], &holders[made])) goto done;
    }
    if (dreamlake_track_append_fields(self->track, fields, (size_t)count, &index, &err)) {
        raise_error(&err);
        goto done;
    }
    result = append_result(self, index);
done:
    for (Py_ssize_t i = 0; i < made; i++) Py_XDECREF(holders[i]);
    return result;
}

/* track._append_dict(point): one point given as a dict (append_batch's items). */
static PyObject *Track_append_dict(TrackObject *self, PyObject *point) {
    TRACK_READY(self);
    if (!PyDict_Check(point)) {
        PyErr_Format(PyExc_TypeError, "a point is a dict, not %.100s", Py_TYPE(point)->tp_name);
        return NULL;
    }
    Py_ssize_t count = PyDict_GET_SIZE(point);
    if (count > MAX_FIELDS) {
        PyErr_Format(PyExc_ValueError, "a point of %zd fields; at most %d", count, MAX_FIELDS);
        return NULL;
    }
    dreamlake_field fields[MAX_FIELDS];
    PyObject *holders[MAX_FIELDS];
    Py_ssize_t made = 0, pos = 0;
    PyObject *key, *value, *result = NULL;
    dreamlake_error err = {0};
    uint64_t index = 0;
    while (PyDict_Next(point, &pos, &key, &value)) {
        if (field_from(&fields[made], key, value, &holders[made])) goto done;
        made++;
    }
    if (dreamlake_track_append_fields(self->track, fields, (size_t)made, &index, &err)) {
        raise_error(&err);
        goto done;
    }
    result = PyLong_FromUnsignedLongLong(index);
done:
    for (Py_ssize_t i = 0; i < made; i++) Py_XDECREF(holders[i]);
    return result;
}

/* One column of _append_arrays: a buffer (a NumPy array, an array.array) of one dimension, as the engine
   takes it: doubles, int64s or bools, converted into `scratch` when the buffer holds another number type. */
static int column_from(dreamlake_column *c, PyObject *key, PyObject *array, Py_buffer *view, void **scratch, Py_ssize_t *count) {
    Py_ssize_t n;
    c->key = PyUnicode_AsUTF8AndSize(key, &n);
    if (!c->key) return -1;
    c->key_length = (size_t)n;
    *scratch = NULL;
    if (PyObject_GetBuffer(array, view, PyBUF_FORMAT | PyBUF_ND | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Format(PyExc_TypeError, "field %U is a %.100s; give each field as a NumPy array (or an array.array) of one dimension, "
                     "or use append_batch for a list of dicts", key, Py_TYPE(array)->tp_name);
        return -1;
    }
    if (view->ndim != 1) {
        PyErr_Format(PyExc_ValueError, "field %U has %d dimensions; each field is an array of one", key, view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    Py_ssize_t len = view->shape[0];
    if (*count >= 0 && len != *count) {
        PyErr_Format(PyExc_ValueError, "field %U has %zd values and the fields before it %zd; every field has one value a point", key, len, *count);
        PyBuffer_Release(view);
        return -1;
    }
    *count = len;
    const char *format = view->format ? view->format : "B";
    if (*format == '<' || *format == '=' || *format == '@') format++;
    char f = format[0];
    if (format[1] != 0) f = 0;
    if (f == 'd' && view->itemsize == 8) {
        c->kind = DREAMLAKE_FIELD_DOUBLE;
        c->values = view->buf;
        return 0;
    }
    if ((f == 'q' || f == 'l') && view->itemsize == 8) {
        c->kind = DREAMLAKE_FIELD_INT;
        c->values = view->buf;
        return 0;
    }
    if (f == '?' && view->itemsize == 1) {
        c->kind = DREAMLAKE_FIELD_BOOL;
        c->values = view->buf;
        return 0;
    }
    /* Other number types, widened. */
    void *out = PyMem_Malloc((size_t)(len > 0 ? len : 1) * 8);
    if (!out) {
        PyBuffer_Release(view);
        PyErr_NoMemory();
        return -1;
    }
    const char *in = view->buf;
    if (f == 'f' && view->itemsize == 4) {
        c->kind = DREAMLAKE_FIELD_DOUBLE;
        for (Py_ssize_t i = 0; i < len; i++) ((double *)out)[i] = ((const float *)in)[i];
    } else if ((f == 'i' && view->itemsize == 4) || (f == 'h' && view->itemsize == 2) || (f == 'b' && view->itemsize == 1) ||
               (f == 'I' && view->itemsize == 4) || (f == 'H' && view->itemsize == 2) || (f == 'B' && view->itemsize == 1)) {
        c->kind = DREAMLAKE_FIELD_INT;
        int64_t *o = out;
        for (Py_ssize_t i = 0; i < len; i++) {
            switch (f) {
            case 'i': o[i] = ((const int32_t *)in)[i]; break;
            case 'h': o[i] = ((const int16_t *)in)[i]; break;
            case 'b': o[i] = ((const int8_t *)in)[i]; break;
            case 'I': o[i] = ((const uint32_t *)in)[i]; break;
            case 'H': o[i] = ((const uint16_t *)in)[i]; break;
            default: o[i] = ((const uint8_t *)in)[i]; break;
            }
        }
    } else if ((f == 'Q' || f == 'L') && view->itemsize == 8) {
        c->kind = DREAMLAKE_FIELD_INT;
        for (Py_ssize_t i = 0; i < len; i++) {
            uint64_t v = ((const uint64_t *)in)[i];
            if (v > (uint64_t)INT64_MAX) {
                PyMem_Free(out);
                PyBuffer_Release(view);
                PyErr_Format(PyExc_OverflowError, "field %U's value %zd is past the 64-bit integers the store keeps", key, i);
                return -1;
            }
            ((int64_t *)out)[i] = (int64_t)v;
        }
    } else {
        PyMem_Free(out);
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "field %U holds items of format '%s', which is not a number type the store keeps "
                     "(float64, float32, int64 ... int8, uint32 ... uint8, bool)", key, view->format ? view->format : "B");
        return -1;
    }
    c->values = out;
    *scratch = out;
    return 0;
}

/* track._append_arrays(names, arrays): one point a position, each field an array. Returns the first index. */
static PyObject *Track_append_arrays(TrackObject *self, PyObject *args) {
    TRACK_READY(self);
    PyObject *names, *arrays;
    if (!PyArg_ParseTuple(args, "O!O!", &PyTuple_Type, &names, &PyTuple_Type, &arrays)) return NULL;
    Py_ssize_t fields = PyTuple_GET_SIZE(names);
    if (fields != PyTuple_GET_SIZE(arrays) || fields == 0 || fields > MAX_FIELDS) {
        PyErr_Format(PyExc_ValueError, "give 1 to %d fields, each an array", MAX_FIELDS);
        return NULL;
    }
    dreamlake_column columns[MAX_FIELDS];
    Py_buffer views[MAX_FIELDS];
    void *scratch[MAX_FIELDS];
    Py_ssize_t made = 0, count = -1;
    PyObject *result = NULL;
    for (; made < fields; made++) {
        PyObject *key = PyTuple_GET_ITEM(names, made);
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "a field's name is a str");
            goto done;
        }
        if (column_from(&columns[made], key, PyTuple_GET_ITEM(arrays, made), &views[made], &scratch[made], &count)) goto done;
    }
    dreamlake_error err = {0};
    uint64_t first = 0;
    int rc;
    /* The arrays are pinned by their buffers for the call: the GIL can go while the engine copies them. */
    WAITING_CALL(rc, dreamlake_track_append_columns(self->track, columns, (size_t)fields, (size_t)count, &first, &err));
    if (rc) {
        raise_error(&err);
        goto done;
    }
    result = Py_BuildValue("(KK)", (unsigned long long)first, (unsigned long long)count);
done:
    for (Py_ssize_t i = 0; i < made; i++) {
        PyMem_Free(scratch[i]);
        PyBuffer_Release(&views[i]);
    }
    return result;
}

/* track._read_columns(start, limit, names, columns, indexes): fills writable buffers of `limit` float64s
   (one a name) and uint64s; returns how many points were read. */
static PyObject *Track_read_columns(TrackObject *self, PyObject *args) {
    TRACK_READY(self);
    unsigned long long start, limit;
    PyObject *names, *outs, *indexes;
    if (!PyArg_ParseTuple(args, "KKO!O!O", &start, &limit, &PyTuple_Type, &names, &PyTuple_Type, &outs, &indexes)) return NULL;
    Py_ssize_t fields = PyTuple_GET_SIZE(names);
    if (fields != PyTuple_GET_SIZE(outs) || fields > MAX_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "one column a name, at most 64");
        return NULL;
    }
    if (limit > (unsigned long long)PY_SSIZE_T_MAX / 8) {
        PyErr_Format(PyExc_ValueError, "a limit of %llu points is more than a buffer can hold", limit);
        return NULL;
    }
    const char *keys[MAX_FIELDS];
    double *columns[MAX_FIELDS];
    Py_buffer views[MAX_FIELDS + 1];
    Py_ssize_t made = 0;
    PyObject *result = NULL;
    for (; made < fields; made++) {
        keys[made] = PyUnicode_AsUTF8(PyTuple_GET_ITEM(names, made));
        if (!keys[made]) goto done;
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(outs, made), &views[made], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto done;
        if ((unsigned long long)views[made].len < limit * 8) {
            PyBuffer_Release(&views[made]);
            PyErr_SetString(PyExc_ValueError, "a column has room for fewer than limit values");
            goto done;
        }
        columns[made] = views[made].buf;
    }
    if (PyObject_GetBuffer(indexes, &views[fields], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto done;
    if ((unsigned long long)views[fields].len < limit * 8) {
        PyBuffer_Release(&views[fields]);
        PyErr_SetString(PyExc_ValueError, "the indexes have room for fewer than limit values");
        goto done;
    }
    dreamlake_error err = {0};
    uint64_t count = 0;
    int rc;
    WAITING_CALL(rc, dreamlake_track_read_columns(self->track, start, limit, keys, (size_t)fields, columns, views[fields].buf, &count, &err));
    PyBuffer_Release(&views[fields]);
    if (rc) {
        raise_error(&err);
        goto done;
    }
    result = PyLong_FromUnsignedLongLong(count);
done:
    for (Py_ssize_t i = 0; i < made; i++) PyBuffer_Release(&views[i]);
    return result;
}

static PyObject *Track_envelope(TrackObject *self, PyObject *args) {
    TRACK_READY(self);
    const char *key = NULL;
    unsigned int buckets;
    if (!PyArg_ParseTuple(args, "zI", &key, &buckets)) return NULL;
    RETURN_JSON_AFTER_WAITING(dreamlake_track_envelope(self->track, key, buckets, &json, &err));
}

static PyObject *Track_write_parquet(TrackObject *self, PyObject *args) {
    TRACK_READY(self);
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    RETURN_AFTER_WAITING(dreamlake_track_write_parquet(self->track, path, &err));
}

static PyObject *Track_read(TrackObject *self, PyObject *args) {
    TRACK_READY(self);
    unsigned long long start, limit;
    if (!PyArg_ParseTuple(args, "KK", &start, &limit)) return NULL;
    RETURN_JSON_AFTER_WAITING(dreamlake_track_read(self->track, start, limit, &json, &err));
}

static PyObject *Track_stats(TrackObject *self, PyObject *Py_UNUSED(ignored)) {
    TRACK_READY(self);
    RETURN_JSON_AFTER_WAITING(dreamlake_track_stats(self->track, &json, &err));
}

static PyObject *Track_get_name(TrackObject *self, void *Py_UNUSED(closure)) {
    Py_INCREF(self->name);
    return self->name;
}

/* ---- Module ---------------------------------------------------------------------------- */

static PyObject *set_errors(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *base, *classes;
    if (!PyArg_ParseTuple(args, "OO!", &base, &PyDict_Type, &classes)) return NULL;
    Py_INCREF(base);
    Py_XSETREF(error_base, base);
    Py_INCREF(classes);
    Py_XSETREF(error_classes, classes);
    Py_RETURN_NONE;
}

static PyObject *version(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
    return PyUnicode_FromString(dreamlake_version());
}

static PyMethodDef Session_methods[] = {
    {"check", (PyCFunction)Session_check, METH_NOARGS, "Raises when the handle came through fork()."},
    {"open", (PyCFunction)Session_open, METH_NOARGS, "Opens the session to write."},
    {"open_for_reading", (PyCFunction)Session_open_for_reading, METH_NOARGS, "Opens the session to read only."},
    {"flush", (PyCFunction)Session_flush, METH_NOARGS, "Makes everything appended so far durable."},
    {"close", (PyCFunction)Session_close, METH_NOARGS, "Flushes and closes the session."},
    {"info", (PyCFunction)Session_info, METH_NOARGS, "The stored session fields, as JSON."},
    {"log", (PyCFunction)Session_log, METH_VARARGS, "log(level, message, metadata_json=None)."},
    {"read_logs", (PyCFunction)Session_read_logs, METH_VARARGS, "read_logs(start, limit): JSON."},
    {"set_parameters", (PyCFunction)Session_set_parameters, METH_VARARGS, "set_parameters(json)."},
    {"get_parameters", (PyCFunction)Session_get_parameters, METH_VARARGS, "get_parameters(flatten=True): JSON."},
    {"list_tracks", (PyCFunction)Session_list_tracks, METH_NOARGS, "Every track's statistics, as JSON."},
    {"track", (PyCFunction)Session_track, METH_VARARGS, "track(name, options_json=None): the engine's track."},
    {"append_metrics", (PyCFunction)Session_append_metrics, METH_VARARGS,
     "append_metrics(tracks, metrics, step): each name = number a {value, step} point of its track."},
    {"files_upload", (PyCFunction)Session_files_upload, METH_VARARGS, "files_upload(file, options_json=None): JSON."},
    {"files_list", (PyCFunction)Session_files_list, METH_VARARGS, "files_list(path=None, tags_json=None): JSON."},
    {"files_download", (PyCFunction)Session_files_download, METH_VARARGS, "files_download(id, destination=None): the path."},
    {"files_update", (PyCFunction)Session_files_update, METH_VARARGS, "files_update(id, options_json=None): JSON."},
    {"files_delete", (PyCFunction)Session_files_delete, METH_VARARGS, "files_delete(id): JSON."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Session_getset[] = {
    {"is_open", (getter)Session_is_open, NULL, "Whether the session is open.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject SessionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dreamlake_engine._engine.Session",
    .tp_basicsize = sizeof(SessionObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The engine's session (dreamlake_session).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Session_init,
    .tp_dealloc = (destructor)Session_dealloc,
    .tp_methods = Session_methods,
    .tp_getset = Session_getset,
};

static PyMethodDef Track_methods[] = {
    {"append", (PyCFunction)(void (*)(void))Track_append, METH_FASTCALL | METH_KEYWORDS,
     "append(**fields): appends a point; returns its index."},
    {"_append_dict", (PyCFunction)Track_append_dict, METH_O, "_append_dict(point): appends a dict; returns its index."},
    {"_read", (PyCFunction)Track_read, METH_VARARGS, "_read(start, limit): JSON."},
    {"_stats", (PyCFunction)Track_stats, METH_NOARGS, "The track's statistics, as JSON."},
    {"_append_arrays", (PyCFunction)Track_append_arrays, METH_VARARGS, "_append_arrays(names, arrays): (first index, count)."},
    {"_read_columns", (PyCFunction)Track_read_columns, METH_VARARGS, "_read_columns(start, limit, names, columns, indexes): count."},
    {"_envelope", (PyCFunction)Track_envelope, METH_VARARGS, "_envelope(field, buckets): JSON."},
    {"_write_parquet", (PyCFunction)Track_write_parquet, METH_VARARGS, "_write_parquet(path): the track as a Parquet file."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Track_getset[] = {
    {"name", (getter)Track_get_name, NULL, "The track's name.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject TrackType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dreamlake_engine._engine.Track",
    .tp_basicsize = sizeof(TrackObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The engine's track (dreamlake_track).",
    .tp_dealloc = (destructor)Track_dealloc,
    .tp_methods = Track_methods,
    .tp_getset = Track_getset,
};

static PyMethodDef module_methods[] = {
    {"_set_errors", set_errors, METH_VARARGS, "_set_errors(base, {code: class})."},
    {"version", version, METH_NOARGS, "The engine's version."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_engine", "The Dreamlake engine (libdreamlakec) for dreamlake_engine.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__engine(void) {
    if (PyType_Ready(&SessionType) < 0 || PyType_Ready(&TrackType) < 0 || PyType_Ready(&AppendResultType) < 0) return NULL;
    str_value = PyUnicode_InternFromString("value");
    str_step = PyUnicode_InternFromString("step");
    if (!str_value || !str_step) return NULL;
    PyObject *json = PyImport_ImportModule("json");
    if (!json) return NULL;
    json_dumps = PyObject_GetAttrString(json, "dumps");
    Py_DECREF(json);
    if (!json_dumps) return NULL;
    static int registered = 0;
    if (!registered) {
        pthread_atfork(NULL, NULL, after_fork_in_child);
        registered = 1;
    }
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&SessionType);
    Py_INCREF(&TrackType);
    if (PyModule_AddObject(m, "Session", (PyObject *)&SessionType) < 0 ||
        PyModule_AddObject(m, "Track", (PyObject *)&TrackType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
